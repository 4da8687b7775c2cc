package sqlnode

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// ErrMaxRowid reports a request that left the largest rowid,
// 9223372036854775807, in a table. SQLite then picks the rowid of every
// later row inserted without one at random, from its own random number
// generator, which no VFS of ncruces/go-sqlite3 v0.37.0 can seed: each
// node would pick a different rowid. So apply refuses the largest rowid:
// the request fails with this error as its result, the same on every
// node, and rolls back.
var ErrMaxRowid = errors.New("sqlnode: the largest rowid (9223372036854775807) is refused: with it taken SQLite picks later rowids at random, differently on each node")

// rowidGuard finds, after each statement that apply runs, the tables it
// inserted into or updated (the authorizer names them when the statement
// and its triggers are prepared) that now hold the largest rowid.
//
// Concurrency: used under the Node's mu, like the apply connection.
type rowidGuard struct {
	written map[string]bool          // tables written by the statements since the last check
	checks  map[string]*sqlite3.Stmt // per table: "is the largest rowid there?" (nil: no rowid)
	stale   bool                     // the schema changed: drop checks before the next use
}

// note records, from the apply authorizer, an action of a request's
// statement.
func (g *rowidGuard) note(action sqlite3.AuthorizerActionCode, table string) {
	switch action {
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE:
		if len(table) >= 7 && strings.EqualFold(table[:7], "sqlite_") {
			return
		}
		if g.written == nil {
			g.written = map[string]bool{}
		}
		g.written[table] = true
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_ALTER_TABLE,
		sqlite3.AUTH_CREATE_VTABLE, sqlite3.AUTH_DROP_VTABLE:
		// A cached check may name a table that changes. (The authorizer
		// may not finalize statements: check drops them.)
		g.stale = true
	}
}

// forget closes the cached checks.
func (g *rowidGuard) forget() {
	for _, st := range g.checks {
		if st != nil {
			st.Close()
		}
	}
	g.checks, g.stale = nil, false
}

// check returns an error wrapping ErrMaxRowid if a table written since the
// last check holds the largest rowid, and resets the written set. An error
// that is not an SQL error (I/O) is returned as it is.
func (g *rowidGuard) check(conn *sqlite3.Conn) error {
	defer clear(g.written)
	if g.stale {
		g.forget()
	}
	for table := range g.written {
		st, err := g.stmt(conn, table)
		if err != nil || st == nil {
			return err
		}
		found := st.Step()
		err = errors.Join(st.Err(), st.Reset())
		if err != nil {
			g.forget()
			if nodeLocal(err) {
				return err
			}
			continue // the table is gone: nothing to check
		}
		if found {
			return fmt.Errorf("%w (table %s)", ErrMaxRowid, table)
		}
	}
	return nil
}

// stmt returns the cached check of table, preparing it if needed; nil if
// the table has no rowid that can be named (WITHOUT ROWID, or a table
// whose columns shadow every rowid alias).
func (g *rowidGuard) stmt(conn *sqlite3.Conn, table string) (*sqlite3.Stmt, error) {
	if st, ok := g.checks[table]; ok {
		return st, nil
	}
	alias, _, err := rowidAlias(conn, table)
	if err != nil {
		if nodeLocal(err) {
			return nil, err
		}
		return nil, nil
	}
	var st *sqlite3.Stmt
	if alias != "" {
		q := fmt.Sprintf("SELECT 1 FROM main.%s WHERE %s=%d", quoteIdent(table), alias, int64(math.MaxInt64))
		if st, _, err = conn.Prepare(q); err != nil {
			if nodeLocal(err) {
				return nil, err
			}
			st = nil
		}
	}
	if g.checks == nil {
		g.checks = map[string]*sqlite3.Stmt{}
	}
	g.checks[table] = st
	return st, nil
}

// rowidAlias returns the name under which table's rowid can be read:
// _rowid_, rowid or oid, the first that no column shadows; "" for a
// WITHOUT ROWID table (hasRowid false), or one that shadows all three.
func rowidAlias(c *sqlite3.Conn, table string) (alias string, hasRowid bool, err error) {
	withoutRowid := false
	var cols []string
	err = eachRow(c, "SELECT wr FROM pragma_table_list WHERE schema='main' AND name=?1", []any{table}, func(st *sqlite3.Stmt) error {
		withoutRowid = st.ColumnInt64(0) != 0
		return nil
	})
	if err == nil {
		err = eachRow(c, "SELECT name FROM pragma_table_info(?1)", []any{table}, func(st *sqlite3.Stmt) error {
			cols = append(cols, strings.ToLower(st.ColumnText(0)))
			return nil
		})
	}
	if err != nil || withoutRowid {
		return "", false, err
	}
	for _, a := range []string{"_rowid_", "rowid", "oid"} {
		shadowed := false
		for _, c := range cols {
			shadowed = shadowed || c == a
		}
		if !shadowed {
			return a, true, nil
		}
	}
	return "", true, nil
}
