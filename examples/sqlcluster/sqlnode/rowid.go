package sqlnode

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// ErrMaxRowid reports a request that wrote the largest rowid,
// 9223372036854775807, into a table, or inserted a row into a table that
// held it. SQLite picks the rowid of a row inserted without one at random
// once the largest is taken, from its own random number generator, which
// no VFS of ncruces/go-sqlite3 v0.37.0 can seed: each node would pick a
// different rowid. So apply refuses both (see rowidGuard): the statement
// fails with this error as its result, the same on every node, and the
// request rolls back.
var ErrMaxRowid = errors.New("sqlnode: the largest rowid (9223372036854775807) is refused: with it taken SQLite picks later rowids at random, differently on each node")

// rowidGuard refuses the largest rowid during apply. It watches every row
// that a request's statement writes, through the apply connection's
// update hook, which SQLite calls for each row inserted or updated in a
// rowid table, by the statement itself or by the body of a trigger, with
// the row's new rowid, in the middle of the statement. The statement is
// refused if a row
//
//   - gets the largest rowid (inserted or updated to it), or
//   - is inserted into a table that held the largest rowid when the
//     statement started (a database written before the guard existed, or
//     loaded): SQLite picked its rowid at random if it had none.
//
// A statement can only make SQLite pick a random rowid after one of these
// (the first requires a row with the largest rowid, which no statement
// can then write without the hook seeing it), and everything before is
// the same on every node: the hook sees it on every node, at the same
// point. It stops the statement at SQLite's next progress check, and the
// statement fails with ErrMaxRowid whatever happened in between (an
// error, a random rowid): the request rolls back, the same everywhere.
//
// The tables of the second kind (legacy) are found by a scan at Open,
// which looks for the largest rowid in every table; usually there is none,
// and since no table can gain it afterwards, nothing more is needed. If
// there are some, each is looked at again before every statement (it
// stops counting once its row is deleted), and every table after a change
// of the schema (a renamed table) or a rollback (which may undo one).
//
// Concurrency: used under the Node's mu, like the apply connection; the
// hook runs there too.
type rowidGuard struct {
	watching bool              // a request's statement runs: the hook checks its rows
	refused  error             // what the hook found; nil if nothing
	legacy   map[string]string // folded name -> name: tables that held the largest rowid when last looked at
	holding  map[string]bool   // folded names of those that held it before the statement running
	rescan   bool              // look at every table, not only legacy ones
}

// observe is the update hook's check of one row written with rowid into
// table; it returns the refusal, once.
func (g *rowidGuard) observe(op sqlite3.AuthorizerActionCode, table string, rowid int64) error {
	if !g.watching || g.refused != nil {
		return nil
	}
	switch {
	case rowid == math.MaxInt64 && (op == sqlite3.AUTH_INSERT || op == sqlite3.AUTH_UPDATE):
		g.refused = fmt.Errorf("%w (table %s)", ErrMaxRowid, table)
	case op == sqlite3.AUTH_INSERT && len(g.holding) > 0 && g.holding[foldASCII(table)]:
		g.refused = fmt.Errorf("%w (table %s holds it, and rows inserted into it get random rowids: delete that row first)", ErrMaxRowid, table)
	default:
		return nil
	}
	return g.refused
}

// note records, from the apply authorizer, an action of a request's
// statement: a change of the schema makes legacy tables be looked for
// again.
func (g *rowidGuard) note(action sqlite3.AuthorizerActionCode) {
	switch action {
	case sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_DROP_TABLE, sqlite3.AUTH_ALTER_TABLE:
		g.rescan = g.rescan || len(g.legacy) > 0
	}
}

// rolledBack records that apply rolled back a request or a transaction,
// which may have undone a change of the legacy tables.
func (g *rowidGuard) rolledBack() { g.rescan = g.rescan || len(g.legacy) > 0 }

// needsLook reports whether look has work to do before a statement.
func (g *rowidGuard) needsLook() bool { return g.rescan || len(g.legacy) > 0 }

// look finds which tables hold the largest rowid now: the legacy ones, or
// every table if rescan. Its errors are node-local.
func (g *rowidGuard) look(conn *sqlite3.Conn) error {
	var tables []string
	if g.rescan {
		err := eachRow(conn, "SELECT name FROM pragma_table_list WHERE schema='main' AND type='table' AND wr=0", nil, func(st *sqlite3.Stmt) error {
			tables = append(tables, st.ColumnText(0))
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		for _, t := range g.legacy {
			tables = append(tables, t)
		}
	}
	legacy, holding := map[string]string{}, map[string]bool{}
	for _, t := range tables {
		if internalName(t) || strings.EqualFold(t, "sqlite_sequence") {
			continue
		}
		found, err := holdsMaxRowid(conn, t)
		if err != nil {
			return err
		}
		if found {
			legacy[foldASCII(t)], holding[foldASCII(t)] = t, true
		}
	}
	g.legacy, g.holding, g.rescan = legacy, holding, false
	return nil
}

// holdsMaxRowid reports whether table holds a row with the largest rowid;
// false for a table that is gone, or whose rowid cannot be named (no
// statement can set it then).
func holdsMaxRowid(conn *sqlite3.Conn, table string) (bool, error) {
	alias, _, err := rowidAlias(conn, table)
	if err == nil && alias == "" {
		alias, err = integerKey(conn, table)
	}
	if err != nil || alias == "" {
		return false, err
	}
	found := false
	err = eachRow(conn, fmt.Sprintf("SELECT 1 FROM main.%s WHERE %s=%d", quoteIdent(table), alias, int64(math.MaxInt64)), nil, func(*sqlite3.Stmt) error {
		found = true
		return nil
	})
	if err != nil && !nodeLocal(err) {
		return false, nil // gone
	}
	return found, err
}

// integerKey returns table's INTEGER PRIMARY KEY column, quoted, "" if
// none: the rowid, for a table whose columns shadow every rowid alias.
func integerKey(conn *sqlite3.Conn, table string) (string, error) {
	var pks, types []string
	err := eachRow(conn, "SELECT name, upper(type) FROM pragma_table_info(?1) WHERE pk>0", []any{table}, func(st *sqlite3.Stmt) error {
		pks, types = append(pks, st.ColumnText(0)), append(types, st.ColumnText(1))
		return nil
	})
	if err != nil || len(pks) != 1 || types[0] != "INTEGER" {
		return "", err
	}
	return quoteIdent(pks[0]), nil
}

// foldASCII folds ASCII letters to lower case, as SQLite compares names.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
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
