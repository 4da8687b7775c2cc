package sqlitevfs

import (
	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

var _ sqlvfs.VFSFilename = (*registration)(nil)

// LastIOError returns the last error that the FS returned for conn's main
// database or its journal or WAL, or nil if there was none (or conn's
// main database is not on a sqlitevfs registration).
//
// SQLite reports an I/O failure by its extended code (SQLITE_IOERR_READ,
// ...), and ncruces attaches the Go error only while no later VFS call of
// the connection has succeeded, which is rarely the case by the time the
// statement returns (SQLite unlocks and rolls back first). LastIOError
// recovers the cause, for instance to tell vfs.ErrCorrupt or
// cow.ErrInvalidated from a plain I/O error:
//
//	if err := conn.Exec(sql); errors.Is(err, sqlite3.IOERR) {
//		cause := sqlitevfs.LastIOError(conn)
//	}
//
// The error stays until a later failure replaces it. An error of xAccess
// or xDelete (which name a file, not an open one) is recorded for every
// connection that has the database open.
func LastIOError(conn *sqlite3.Conn) error {
	if conn == nil {
		return nil
	}
	f := unwrapFile(conn.Filename("main").DatabaseFile())
	if f == nil {
		return nil
	}
	return f.errs.get()
}

// TakeIOError is LastIOError that also clears the recorded error, so that
// a later call reports only failures that happened since. ok is false if
// conn's main database is not on a sqlitevfs registration (then nothing
// is recorded, and err is always nil).
//
// A caller that must tell a failure of the storage from an error that
// SQLite raises by itself with the same code (SQLITE_FULL is both "disk
// full" and "no rowid left") takes the error before running a statement
// and again after it fails: a non-nil second take means the FS failed
// during the statement.
func TakeIOError(conn *sqlite3.Conn) (err error, ok bool) {
	if conn == nil {
		return nil, false
	}
	f := unwrapFile(conn.Filename("main").DatabaseFile())
	if f == nil {
		return nil, false
	}
	return f.errs.take(), true
}

// take returns the recorded error and clears it.
func (s *errSlot) take() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}
