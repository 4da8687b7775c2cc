package vfs

import "errors"

// Sentinel errors. Operations return them wrapped in an *fs.PathError; match
// them with errors.Is. The standard sentinels fs.ErrNotExist, fs.ErrExist,
// fs.ErrClosed, fs.ErrInvalid and fs.ErrPermission are used where they fit.
var (
	// ErrLocked reports that a lock is held by someone else.
	ErrLocked = errors.New("vfs: file is locked")
	// ErrIsDir reports a file operation on a directory.
	ErrIsDir = errors.New("vfs: is a directory")
	// ErrNotDir reports a directory operation on a file, or a path whose
	// parent is a file.
	ErrNotDir = errors.New("vfs: not a directory")
	// ErrNotEmpty reports the removal of a directory that has entries.
	ErrNotEmpty = errors.New("vfs: directory not empty")
	// ErrReadOnly reports a write to a file opened O_RDONLY, or to a
	// file system that refuses writes.
	ErrReadOnly = errors.New("vfs: file is read-only")
	// ErrWriteOnly reports a read from a file opened O_WRONLY.
	ErrWriteOnly = errors.New("vfs: file is write-only")
	// ErrCorrupt reports stored data that fails its integrity check. The
	// SQLite adapter maps it to SQLITE_IOERR_DATA.
	ErrCorrupt = errors.New("vfs: data is corrupt")
	// ErrTooLarge reports a write or truncation past the largest size a
	// file may have (EFBIG on disk; MemMaxFileSize in memory).
	ErrTooLarge = errors.New("vfs: file too large")
	// ErrInjected is the error that errorfs injects by default.
	ErrInjected = errors.New("vfs: injected error")
)
