package sqlitevfs

import (
	"errors"
	"syscall"

	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

// sqliteError tags err with the SQLite extended result code for a failed
// operation whose default code is code:
//
//   - an error wrapping vfs.ErrCorrupt becomes SQLITE_IOERR_DATA, whatever
//     the operation (a block failed its integrity check);
//   - an error wrapping ENOSPC becomes SQLITE_FULL;
//   - anything else gets code, the operation's own SQLITE_IOERR_* code.
//
// The original error travels with the code: ncruces attaches it to the
// *sqlite3.Error that the failing statement returns (Unwrap), so that
// errors.Is(err, vfs.ErrCorrupt) or errors.Is(err, cow.ErrInvalidated)
// holds at the caller. See the package doc for when SQLite drops it.
func sqliteError(err error, code sqlite3.ExtendedErrorCode) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, vfs.ErrCorrupt):
		code = sqlite3.IOERR_DATA
	case errors.Is(err, syscall.ENOSPC):
		return sqlvfs.SystemError(err, sqlite3.FULL)
	}
	return sqlvfs.SystemError(err, code)
}

// openError maps an error from FS.Open to SQLITE_CANTOPEN (CANTOPEN_ISDIR
// for a directory, IOERR_DATA for corrupt metadata).
func openError(err error) error {
	switch {
	case errors.Is(err, vfs.ErrCorrupt):
		return sqlvfs.SystemError(err, sqlite3.IOERR_DATA)
	case errors.Is(err, vfs.ErrIsDir):
		return sqlvfs.SystemError(err, sqlite3.CANTOPEN_ISDIR)
	}
	return sqlvfs.SystemError(err, sqlite3.CANTOPEN)
}
