package sqlnode

import (
	"errors"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// The apply connection keeps its prepared statements: apply's own (BEGIN
// IMMEDIATE, COMMIT, the request's savepoint, the applied index's update)
// and the requests' plain statements, so that an entry does not parse and
// plan the same texts again. Preparing them cost more than running a
// single-row INSERT.
//
// A kept statement runs as a fresh one would, on every node:
//   - SQLite prepares statements with sqlite3_prepare_v3, and re-prepares
//     one whose schema changed (by this connection, or underneath it after
//     a copier reset or a promotion) when it next steps; runOne reads the
//     column names after the first step, so they are the new ones.
//   - Only requests' statements are kept during whose preparation the
//     apply authorizer saw nothing but reads, writes of rows, functions
//     and recursive queries (plainAction): no DDL, whose authorizer calls
//     the largest-rowid guard relies on (rowidGuard.note), no pragma.
//   - Any other action of a request's statement (DDL, ANALYZE, a pragma)
//     closes every kept request statement before the next one runs, so
//     that no plan made before it outlives it, whatever SQLite re-prepares
//     by itself: a node that kept a statement and one that restarted plan
//     alike, and so count the same steps (Options.MaxSteps).
//   - Only a text that is one statement (nothing but spaces after it), so
//     that it runs with the same "more statements follow" as fresh.
//   - Bindings are cleared after each use: unbound parameters are NULL.
//   - A statement whose run failed is closed, not kept: it may be stale.
//
// Concurrency: used under the Node's mu, like the apply connection.
type applyStmts struct {
	own  map[string]*sqlite3.Stmt // apply's own statements, by SQL text
	user stmtCache                // requests' statements, by SQL text
	// plain is cleared by the apply authorizer when a request's
	// statement being prepared does anything but plainAction.
	plain bool
	// stale is set with plain: every kept request statement is closed
	// before the next one is prepared.
	stale bool
	off   bool // keep no request's statement (tests compare)
}

// The texts of apply's own statements.
const (
	sqlBegin     = "BEGIN IMMEDIATE"
	sqlCommit    = "COMMIT"
	sqlSavepoint = "SAVEPOINT holeycow_request"
	sqlRollTo    = "ROLLBACK TO holeycow_request"
	sqlRelease   = "RELEASE holeycow_request"
	sqlSetIndex  = "UPDATE " + appliedTable + " SET idx=?1 WHERE id=1"
)

// ownStmt returns the kept statement of sql, one of apply's own, preparing
// it if needed.
func (as *applyStmts) ownStmt(conn *sqlite3.Conn, sql string) (*sqlite3.Stmt, error) {
	if s := as.own[sql]; s != nil {
		return s, nil
	}
	s, _, err := conn.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	if as.own == nil {
		as.own = map[string]*sqlite3.Stmt{}
	}
	as.own[sql] = s
	return s, nil
}

// exec runs sql, one of apply's own statements without parameters.
func (as *applyStmts) exec(conn *sqlite3.Conn, sql string) error {
	s, err := as.ownStmt(conn, sql)
	if err != nil {
		return err
	}
	if err := s.Exec(); err != nil {
		as.dropOwn(sql)
		return err
	}
	return nil
}

// setIndex records idx as the applied index, in the open transaction.
func (as *applyStmts) setIndex(conn *sqlite3.Conn, idx uint64) error {
	s, err := as.ownStmt(conn, sqlSetIndex)
	if err == nil {
		err = s.BindInt64(1, int64(idx))
	}
	if err == nil {
		err = s.Exec()
	}
	if err != nil {
		as.dropOwn(sqlSetIndex)
	}
	return err
}

// dropOwn closes and forgets the statement of sql after it failed.
func (as *applyStmts) dropOwn(sql string) {
	if s := as.own[sql]; s != nil {
		s.Close()
		delete(as.own, sql)
	}
}

// How runStatements got a statement from prepare.
type stmtOrigin uint8

const (
	stmtFresh    stmtOrigin = iota // prepared now; closed after it runs
	stmtKeepable                   // prepared now; kept after it runs well
	stmtKept                       // kept from an earlier run
)

// prepare returns the first statement of sql for runStatements, and how
// it got it; runStatements gives it back to release. whole says sql is a
// Statement's whole text. A nil as keeps nothing.
func (as *applyStmts) prepare(conn *sqlite3.Conn, sql string, whole bool) (stmt *sqlite3.Stmt, tail string, origin stmtOrigin, err error) {
	if as != nil && as.stale {
		as.stale = false
		// Each was reset after a run that succeeded: nothing to report.
		as.user.closeAll()
	}
	if as == nil || as.off || !whole || len(sql) > maxCachedSQLSize {
		stmt, tail, err = conn.Prepare(sql)
		return stmt, tail, stmtFresh, err
	}
	if s := as.user.stmts[sql]; s != nil {
		return s, "", stmtKept, nil
	}
	as.plain = true
	stmt, tail, err = conn.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
	if err == nil && stmt != nil && as.plain && strings.TrimSpace(tail) == "" {
		return stmt, "", stmtKeepable, nil
	}
	return stmt, tail, stmtFresh, err
}

// release takes back stmt, prepared from sql, after it ran with result r
// and error err: it keeps it if it may and the run succeeded, else closes
// it. It returns the result and error of a fresh statement: a kept one
// whose re-preparation for a changed schema failed reports what the
// preparation of a fresh one does (no columns).
func (as *applyStmts) release(conn *sqlite3.Conn, sql string, stmt *sqlite3.Stmt, origin stmtOrigin, r Result, err error) (Result, error) {
	switch {
	case origin == stmtFresh:
		stmt.Close()
	case err != nil && origin == stmtKept:
		as.user.forget(sql)
		if !nodeLocal(err) {
			if s, _, perr := conn.Prepare(sql); perr != nil {
				return Result{Error: perr.Error()}, perr
			} else {
				s.Close()
			}
		}
	case err != nil:
		stmt.Close()
	default:
		stmt.Reset()
		stmt.ClearBindings()
		if origin == stmtKeepable {
			as.user.put(sql, stmt)
		}
	}
	return r, err
}

// closeAll closes every kept statement (before the connection closes).
func (as *applyStmts) closeAll() error {
	var errs []error
	for _, s := range as.own {
		errs = append(errs, s.Close())
	}
	as.own = nil
	errs = append(errs, as.user.closeAll())
	return errors.Join(errs...)
}

// plainAction reports whether a request's statement doing action can be
// kept prepared (see applyStmts).
func plainAction(action sqlite3.AuthorizerActionCode) bool {
	switch action {
	case sqlite3.AUTH_READ, sqlite3.AUTH_SELECT, sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE,
		sqlite3.AUTH_DELETE, sqlite3.AUTH_FUNCTION, sqlite3.AUTH_RECURSIVE:
		return true
	}
	return false
}
