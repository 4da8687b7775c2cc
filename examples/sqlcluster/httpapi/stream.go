package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// streamChunk is how many rows writeResults encodes at a time.
const streamChunk = 256

// bufWriters recycles writeResults' 32 KiB buffers: allocating and
// clearing one per response cost more than encoding a point read.
var bufWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// writeResults writes out (a /db response whose Results are still to be
// encoded from rs) with status 200. Unless pretty, it streams: each
// result's fields but its rows are encoded as encodeResults shapes them,
// then its rows follow a chunk at a time, so that the response never sits
// whole in memory next to the rows (issue 16). The rows go last in their
// object, which JSON readers do not mind.
func writeResults(w http.ResponseWriter, out response, rs []sqlnode.Result, o options) {
	if o.pretty {
		out.Results = encodeResults(rs, o)
		writeJSON(w, http.StatusOK, out, true)
		return
	}
	// The envelope without results: {"results":null,...}. Split it at the
	// null, and write the results in its place.
	out.Results = nil
	env, err := marshal(out)
	if err != nil {
		writeJSON(w, http.StatusOK, out, false) // reports the error
		return
	}
	const hole = `"results":null`
	i := bytes.Index(env, []byte(hole))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil) // keep no reference to w, and drop what a failed write left
		bufWriters.Put(bw)
	}()
	bw.Write(env[:i])
	bw.WriteString(`"results":[`)
	for k, r := range rs {
		if k > 0 {
			bw.WriteByte(',')
		}
		if err := writeResult(bw, r, o); err != nil {
			return // the client went away
		}
	}
	bw.WriteByte(']')
	bw.Write(env[i+len(hole):])
	bw.WriteByte('\n')
	bw.Flush()
}

// writeResult writes one result: its other fields as encodeResults makes
// them, then its rows.
func writeResult(bw *bufio.Writer, r sqlnode.Result, o options) error {
	rows := r.Values
	r.Values = nil
	head, err := marshalFirst(encodeResults([]sqlnode.Result{r}, o))
	if err != nil {
		return err
	}
	if rows == nil {
		_, err := bw.Write(head)
		return err
	}
	bw.Write(head[:len(head)-1]) // without its closing brace
	if len(head) > 2 {
		bw.WriteByte(',')
	}
	key := `"values":[`
	if o.associative {
		key = `"rows":[`
	}
	bw.WriteString(key)
	for start := 0; start < len(rows); start += streamChunk {
		if start > 0 {
			bw.WriteByte(',')
		}
		chunk := sqlnode.Result{Columns: r.Columns, Types: r.Types, Values: rows[start:min(start+streamChunk, len(rows))]}
		var b []byte
		switch x := encodeResults([]sqlnode.Result{chunk}, o).(type) {
		case []result:
			b, err = marshal(x[0].Values)
		case []assocResult:
			b, err = marshal(x[0].Rows)
		}
		if err != nil {
			return err
		}
		if _, err := bw.Write(b[1 : len(b)-1]); err != nil { // without [ ]
			return err
		}
	}
	_, err = bw.WriteString("]}")
	return err
}

// marshalFirst marshals the one element of the slice that encodeResults
// returned.
func marshalFirst(v any) ([]byte, error) {
	switch x := v.(type) {
	case []result:
		return marshal(x[0])
	case []assocResult:
		return marshal(x[0])
	}
	return marshal(v)
}

// marshal is json.Marshal without HTML escaping and without the newline,
// as writeJSON encodes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
