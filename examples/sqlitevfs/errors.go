package sqlitevfs

import "errors"

// Sentinel errors. They reach callers wrapped (in an *fs.PathError, or as
// the system error of a *sqlite3.Error, which errors.Is sees through).
var (
	// ErrNameTaken reports a Register with a name that already names a
	// SQLite VFS (registered here or elsewhere, "os" included).
	ErrNameTaken = errors.New("sqlitevfs: vfs name already registered")
	// ErrNotRegistered reports an Unregister or Check of a name that this
	// package did not register.
	ErrNotRegistered = errors.New("sqlitevfs: vfs name not registered by sqlitevfs")
	// ErrInUse reports an Unregister while SQLite still has files open on
	// the VFS.
	ErrInUse = errors.New("sqlitevfs: vfs has open files")
	// ErrWALNeedsExclusive reports an attempt to use WAL journal mode on a
	// connection whose locking mode is not EXCLUSIVE, through a
	// registration without WithSharedMemory: SQLite can then only keep the
	// index in the heap of a connection that holds the database
	// exclusively.
	ErrWALNeedsExclusive = errors.New("sqlitevfs: journal_mode=WAL needs locking_mode=EXCLUSIVE (the vfs has no shared memory for the WAL index)")
	// ErrSharedMemory reports registrations of one FS value that disagree
	// on WithSharedMemory.
	ErrSharedMemory = errors.New("sqlitevfs: registrations of one FS must share their WAL index directory")
	// ErrBlockSize reports a view whose block size differs from the
	// database's page size and can no longer change (the view has content).
	ErrBlockSize = errors.New("sqlitevfs: view block size differs from the database page size and cannot change")
	// ErrConfig reports an invalid Config for OpenConn, OpenDB or URI.
	ErrConfig = errors.New("sqlitevfs: invalid connection config")
)
