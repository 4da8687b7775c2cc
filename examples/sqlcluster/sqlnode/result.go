package sqlnode

import (
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Result is the outcome of one SQL statement, shaped like rqlite's:
// ready to be serialized by an HTTP API. Every field but Time is the same
// on every node that applies the same entry.
type Result struct {
	Columns      []string `json:"columns,omitempty"`
	Types        []string `json:"types,omitempty"`  // declared column types, lower case; "" for expressions
	Values       [][]any  `json:"values,omitempty"` // nil, int64, float64, string or []byte
	LastInsertID int64    `json:"last_insert_id,omitempty"`
	RowsAffected int64    `json:"rows_affected,omitempty"`
	Error        string   `json:"error,omitempty"`
	Time         float64  `json:"time,omitempty"` // seconds spent on this node
}

// Response is the outcome of one applied log entry.
type Response struct {
	// Index is the entry's log index.
	Index uint64
	// Results holds one Result per SQL statement run, up to and including
	// the first that failed.
	Results []Result
	// RolledBack reports that a statement failed, so that none of the
	// request's statements has any effect. The index advanced anyway.
	RolledBack bool
	// Error is set when the command did not decode; nothing was run.
	Error string
	// Skipped reports that the entry was at or below the applied index
	// stored in the database: it had already been applied, before a crash
	// or reset, and was not applied again. Results are then empty.
	Skipped bool
}

// bindParams binds ps to st: the k-th positional Param to parameter k, a
// named Param by name.
func bindParams(st *sqlite3.Stmt, ps []Param) error {
	k := 0
	for _, p := range ps {
		var idx int
		if p.Name == "" {
			k++
			idx = k
			if idx > st.BindCount() {
				return fmt.Errorf("sqlnode: %d positional parameters given, the statement has %d", idx, st.BindCount())
			}
		} else {
			idx = st.BindIndex(p.Name)
			if idx == 0 && !strings.ContainsAny(p.Name[:1], ":@$?") {
				for _, pre := range []string{":", "@", "$"} {
					if idx = st.BindIndex(pre + p.Name); idx != 0 {
						break
					}
				}
			}
			if idx == 0 {
				return fmt.Errorf("sqlnode: the statement has no parameter named %q", p.Name)
			}
		}
		v, err := normValue(p.Value)
		if err != nil {
			return err
		}
		switch x := v.(type) {
		case nil:
			err = st.BindNull(idx)
		case int64:
			err = st.BindInt64(idx, x)
		case float64:
			err = st.BindFloat(idx, x)
		case string:
			err = st.BindText(idx, x)
		case []byte:
			if x == nil {
				x = []byte{}
			}
			err = st.BindBlob(idx, x)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runStatements runs every SQL statement of one Statement on conn,
// appending a Result for each. It stops at the first error, which it returns
// after recording it in the last Result. write selects whether
// RowsAffected and LastInsertID are reported; b (nil: none) bounds the
// rows. before, if not nil, runs before each SQL statement is prepared;
// its error stops runStatements, unrecorded. as, if not nil, lends and
// keeps prepared statements (the apply connection's; see applyStmts).
func runStatements(conn *sqlite3.Conn, st Statement, write bool, out []Result, b *budget, before func() error, as *applyStmts) ([]Result, error) {
	sql := st.SQL
	first := true
	for {
		if before != nil {
			if err := before(); err != nil {
				return out, err
			}
		}
		start := time.Now()
		stmt, tail, origin, err := as.prepare(conn, sql, first)
		if err != nil {
			out = append(out, Result{Error: err.Error(), Time: time.Since(start).Seconds()})
			return out, err
		}
		if stmt == nil { // only spaces and comments left
			if first {
				out = append(out, Result{Time: time.Since(start).Seconds()})
			}
			return out, nil
		}
		first = false
		r, err := runOne(conn, stmt, st.Params, strings.TrimSpace(tail) != "", write, b)
		r, err = as.release(conn, sql, stmt, origin, r, err)
		r.Time = time.Since(start).Seconds()
		out = append(out, r)
		if err != nil || tail == "" {
			return out, err
		}
		sql = tail
	}
}

func runOne(conn *sqlite3.Conn, stmt *sqlite3.Stmt, ps []Param, more, write bool, b *budget) (r Result, err error) {
	defer func() {
		if err != nil {
			r.Error = err.Error()
		}
	}()
	if len(ps) > 0 && more {
		return r, fmt.Errorf("sqlnode: parameters given with several SQL statements in one text")
	}
	if err := bindParams(stmt, ps); err != nil {
		return r, err
	}
	// changes() is left as it was by statements that change no row
	// through INSERT, UPDATE or DELETE (DDL): the total tells them apart,
	// so that DDL reports 0 rather than the previous statement's count.
	total := conn.TotalChanges()
	// The columns are read after the first step: a statement prepared
	// before a change of the schema is prepared again by that step.
	hasRow := stmt.Step()
	if nc := stmt.ColumnCount(); nc > 0 {
		r.Columns = make([]string, nc)
		r.Types = make([]string, nc)
		for i := range nc {
			r.Columns[i] = stmt.ColumnName(i)
			r.Types[i] = strings.ToLower(stmt.ColumnDeclType(i))
		}
	}
	for ; hasRow; hasRow = stmt.Step() {
		if err := b.addRow(stmt, len(r.Columns)); err != nil {
			r.Values = nil // let the rows go now
			return r, err
		}
		row := make([]any, len(r.Columns))
		for i := range row {
			switch stmt.ColumnType(i) {
			case sqlite3.INTEGER:
				row[i] = stmt.ColumnInt64(i)
			case sqlite3.FLOAT:
				row[i] = stmt.ColumnFloat(i)
			case sqlite3.TEXT:
				row[i] = stmt.ColumnText(i)
			case sqlite3.BLOB:
				row[i] = stmt.ColumnBlob(i, []byte{})
			}
		}
		r.Values = append(r.Values, row)
	}
	if err := stmt.Err(); err != nil {
		return r, err
	}
	if write && !stmt.ReadOnly() {
		if conn.TotalChanges() != total {
			r.RowsAffected = conn.Changes()
		}
		r.LastInsertID = conn.LastInsertRowID()
	}
	return r, nil
}
