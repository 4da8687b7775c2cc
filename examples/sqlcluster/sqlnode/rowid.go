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
//
// Most statements insert one row into one table that did not hold the
// largest rowid before: the row's rowid (last_insert_rowid) then tells
// whether the table holds it now, with no query. That holds once no table
// holds the largest rowid, which Open checks (scan) and apply keeps; a
// database that does (written before this check existed) gets the query
// after every statement.
type rowidGuard struct {
	written map[string]bool          // tables written by the statements since the last check
	updated bool                     // ... of which some by UPDATE (or an upsert)
	checks  map[string]*sqlite3.Stmt // per table: "is the largest rowid there?" (nil: no rowid)
	stale   bool                     // the schema changed: drop checks before the next use
	legacy  bool                     // some table held the largest rowid at Open
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
		g.updated = g.updated || action == sqlite3.AUTH_UPDATE
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
	defer g.reset()
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

// checkOneRow is check for a statement that inserted or changed exactly
// one row (changes() and total_changes() both moved by one), whose rowid,
// if it inserted it, is rowid: a single INSERT into a table that held no
// largest rowid adds it only if rowid is it.
func (g *rowidGuard) checkOneRow(conn *sqlite3.Conn, rowid int64) error {
	if g.legacy || g.updated || len(g.written) != 1 || rowid == math.MaxInt64 {
		return g.check(conn)
	}
	g.reset()
	return nil
}

func (g *rowidGuard) reset() {
	clear(g.written)
	g.updated = false
}

// scan looks, at Open, for tables that hold the largest rowid already
// (legacy), for which every statement needs the query.
func (g *rowidGuard) scan(conn *sqlite3.Conn) error {
	defer g.forget()
	var tables []string
	err := eachRow(conn, "SELECT name FROM sqlite_schema WHERE type='table' AND sql NOT LIKE 'CREATE VIRTUAL%'", nil, func(st *sqlite3.Stmt) error {
		if name := st.ColumnText(0); !internalName(name) {
			tables = append(tables, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range tables {
		g.written = map[string]bool{t: true}
		if err := g.check(conn); errors.Is(err, ErrMaxRowid) {
			g.legacy = true
		} else if err != nil {
			return err
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
