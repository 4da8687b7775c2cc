package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// result is one element of "results", as rqlite shapes it.
type result struct {
	Columns      []string `json:"columns,omitempty"`
	Types        []string `json:"types,omitempty"`
	Values       [][]any  `json:"values,omitempty"`
	LastInsertID int64    `json:"last_insert_id,omitempty"`
	RowsAffected int64    `json:"rows_affected,omitempty"`
	Error        string   `json:"error,omitempty"`
	Time         float64  `json:"time,omitempty"`
}

// assocResult is one element of "results" with ?associative: rows as
// objects keyed by column name, and types keyed by column name.
type assocResult struct {
	Types        map[string]string `json:"types,omitempty"`
	Rows         []map[string]any  `json:"rows,omitempty"`
	LastInsertID int64             `json:"last_insert_id,omitempty"`
	RowsAffected int64             `json:"rows_affected,omitempty"`
	Error        string            `json:"error,omitempty"`
	Time         float64           `json:"time,omitempty"`
}

// response is the body of the /db endpoints.
type response struct {
	Results        any     `json:"results"`
	Time           float64 `json:"time,omitempty"`
	RaftIndex      *uint64 `json:"raft_index,omitempty"`
	SequenceNumber *uint64 `json:"sequence_number,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// jsonValue makes a database value encodable: JSON has no infinities, so
// ±Inf become the strings "Inf" and "-Inf" (which strconv.ParseFloat and
// gorqlite's Scan into a float64 accept). SQLite has no NaN (it stores
// NULL). Blobs ([]byte) encode as base64 strings, as rqlite's do.
func jsonValue(v any) any {
	if f, ok := v.(float64); ok && math.IsInf(f, 0) {
		if f > 0 {
			return "Inf"
		}
		return "-Inf"
	}
	return v
}

// encodeResults converts rs to rqlite's shape; timings keeps the times.
func encodeResults(rs []sqlnode.Result, o options) any {
	if o.associative {
		out := make([]assocResult, len(rs))
		for i, r := range rs {
			a := assocResult{LastInsertID: r.LastInsertID, RowsAffected: r.RowsAffected, Error: r.Error}
			if o.timings {
				a.Time = r.Time
			}
			if r.Columns != nil {
				a.Types = make(map[string]string, len(r.Columns))
				for j, c := range r.Columns {
					t := ""
					if j < len(r.Types) {
						t = r.Types[j]
					}
					a.Types[c] = t
				}
				a.Rows = make([]map[string]any, len(r.Values))
				for k, row := range r.Values {
					m := make(map[string]any, len(r.Columns))
					for j, c := range r.Columns {
						if j < len(row) {
							m[c] = jsonValue(row[j])
						}
					}
					a.Rows[k] = m
				}
			}
			out[i] = a
		}
		return out
	}
	out := make([]result, len(rs))
	for i, r := range rs {
		x := result{Columns: r.Columns, Types: r.Types, LastInsertID: r.LastInsertID,
			RowsAffected: r.RowsAffected, Error: r.Error}
		if o.timings {
			x.Time = r.Time
		}
		if r.Values != nil {
			x.Values = make([][]any, len(r.Values))
			for k, row := range r.Values {
				nr := make([]any, len(row))
				for j, v := range row {
					nr[j] = jsonValue(v)
				}
				x.Values[k] = nr
			}
		}
		out[i] = x
	}
	return out
}

// writeJSON writes v with the given status, indented if pretty.
func writeJSON(w http.ResponseWriter, status int, v any, pretty bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "    ")
	}
	if err := enc.Encode(v); err != nil {
		// Only a value of a type JSON cannot hold gets here (a Backend's
		// Status.Extra, say): report it rather than send half a body.
		buf.Reset()
		status = http.StatusInternalServerError
		json.NewEncoder(&buf).Encode(errorBody{Error: "httpapi: encoding the response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorBody is the body of every error response.
type errorBody struct {
	Error  string `json:"error"`
	Leader string `json:"leader,omitempty"` // the leader's HTTP API URL, when known
}
