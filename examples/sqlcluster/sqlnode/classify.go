package sqlnode

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/ncruces/go-sqlite3"
)

// sqliteCode returns the primary SQLite result code of err, whatever form
// ncruces gave it: a *sqlite3.Error, a bare sqlite3.ErrorCode, or a bare
// extended code (ncruces returns the bare code when SQLite has no message
// beyond the code's own text, as for SQLITE_FULL: "database or disk is
// full"). ok is false if err carries no SQLite code.
func sqliteCode(err error) (code sqlite3.ErrorCode, ok bool) {
	if err == nil {
		return 0, false
	}
	if errors.As(err, &code) {
		return code, true
	}
	var x sqlite3.ExtendedErrorCode
	if errors.As(err, &x) {
		return x.Code(), true
	}
	return 0, false
}

// nodeLocal reports whether err comes from this node's environment (I/O,
// space, corruption, locking, memory, an interrupted connection) rather
// than from the SQL: such an error must never become a result, since
// other nodes would not see it.
func nodeLocal(err error) bool {
	code, ok := sqliteCode(err)
	if !ok {
		return false
	}
	switch code {
	case sqlite3.IOERR, sqlite3.CORRUPT, sqlite3.FULL, sqlite3.NOMEM, sqlite3.CANTOPEN,
		sqlite3.NOTADB, sqlite3.PROTOCOL, sqlite3.BUSY, sqlite3.LOCKED, sqlite3.READONLY,
		sqlite3.INTERRUPT, sqlite3.PERM, sqlite3.NOLFS, sqlite3.INTERNAL, sqlite3.MISUSE:
		return true
	}
	return false
}

// applyFailure classifies the error of a request's statement during
// apply. fsErr is what the VFS recorded while the statement ran (see
// sqlitevfs.TakeIOError) and onAdapter whether the database is on a
// sqlitevfs registration at all. It returns nil if err is an SQL error
// (a result, the same on every node), or the node-local error to stop the
// apply with, the VFS's error attached as its cause.
//
// Any statement during which the storage failed is node-local, whatever
// code SQLite chose. SQLITE_FULL is special: SQLite raises it itself, the
// same on every node, when no rowid is left (an AUTOINCREMENT counter at
// the largest rowid); on the adapter, where every storage failure is
// recorded, a FULL with nothing recorded is that SQL error. Elsewhere
// (SQLite's own OS VFS) it cannot be told from a full disk, and is taken
// for one.
func applyFailure(err, fsErr error, onAdapter bool) error {
	if err == nil {
		return nil
	}
	if fsErr != nil {
		return withCause(err, fsErr)
	}
	if !nodeLocal(err) {
		return nil
	}
	if code, _ := sqliteCode(err); code == sqlite3.FULL && onAdapter {
		return nil
	}
	return err
}

// withCause attaches cause, the storage's own error, to err, SQLite's
// report of it (both match errors.Is), unless err already wraps it. The
// cause leads the message: "fenced: writer lease lapsed" says more than
// SQLite's "disk I/O error", and is not one.
func withCause(err, cause error) error {
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w (SQLite reported: %w)", cause, err)
}

// readFailure attaches to err, the error of a read on conn, the storage's
// own error recorded while the read ran (take conn's recorded error
// before the read): a copier view whose stability lease lapsed refuses
// reads with cow.ErrInvalidated, which SQLite reports as a bare "disk I/O
// error". A refusal must be reported as what it is, so that the caller
// can tell it from a failing disk (and wait for the copier to reset). An
// SQL error, or nil, passes unchanged.
func readFailure(conn *sqlite3.Conn, err error) error {
	if err == nil || !nodeLocal(err) {
		return err
	}
	cause, _ := storageCause(conn)
	return withCause(err, cause)
}

// storageCause returns what the VFS recorded for conn since the last
// take, and whether conn is on the adapter.
func storageCause(conn *sqlite3.Conn) (error, bool) {
	return sqlitevfs.TakeIOError(conn)
}

// IsStorageFull reports whether err (from ApplyBatch, wrapping ErrApply)
// says that storage is out of space: SQLITE_FULL from the storage, or an
// ENOSPC behind it. A storage that is full for one node is full for every
// node that writes it.
func IsStorageFull(err error) bool {
	code, ok := sqliteCode(err)
	return ok && code == sqlite3.FULL || errors.Is(err, syscall.ENOSPC)
}
