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
