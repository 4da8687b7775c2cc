package vfs

import (
	"io"
	"io/fs"
)

// File is an open file. It has no cursor: every read and write names its
// offset, so one File can serve many goroutines at once.
//
// Concurrency: every method is safe for concurrent use. ReadAt and WriteAt on
// disjoint byte ranges never interfere. Calls on overlapping ranges, or
// Truncate concurrent with I/O, are free of data races and panics, but the
// result is some interleaving of the calls, as with pread/pwrite. Close must
// not race with other calls on the same File: calls made after Close return
// fs.ErrClosed.
//
// Errors are *fs.PathError values with Op and Path set, wrapping a sentinel
// that errors.Is matches: fs.ErrClosed after Close, fs.ErrInvalid for a
// negative offset or size, ErrReadOnly for a write to a file opened
// O_RDONLY, ErrWriteOnly for a read from a file opened O_WRONLY.
type File interface {
	// ReadAt reads len(p) bytes at off. At or past end of file it returns
	// the bytes there are and io.EOF, like io.ReaderAt. Holes read as zeros.
	ReadAt(p []byte, off int64) (n int, err error)
	// WriteAt writes p at off, growing the file if needed. Any gap between
	// the old end and off reads as zeros.
	WriteAt(p []byte, off int64) (n int, err error)
	// Truncate sets the file's size. Growing fills with zeros.
	Truncate(size int64) error
	// Sync makes the file's data and size durable.
	Sync() error
	// Size reports the current size in bytes.
	Size() (int64, error)
	// Close releases the file. A second Close returns fs.ErrClosed.
	Close() error
	// Name is the path the file was opened with.
	Name() string
}

// FS is a file system rooted at some directory. Every path is slash
// separated, relative to the root and clean, as fs.ValidPath requires; "."
// names the root. Any other path gets an *fs.PathError wrapping fs.ErrInvalid
// (see CheckPath). A file on the way to a path gets ErrNotDir, a missing
// directory fs.ErrNotExist.
//
// Concurrency: every method is safe for concurrent use.
type FS interface {
	// Open opens a file. flag is a combination of os.O_RDONLY, os.O_WRONLY
	// or os.O_RDWR with os.O_CREATE, os.O_EXCL and os.O_TRUNC; any other bit
	// gets fs.ErrInvalid. perm is used when the file is created. Opening a
	// directory gets ErrIsDir (fs.ErrExist with os.O_CREATE|os.O_EXCL); a
	// missing parent directory gets fs.ErrNotExist. As on Linux, os.O_TRUNC
	// truncates even with os.O_RDONLY, and os.O_EXCL without os.O_CREATE is
	// ignored.
	Open(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file or an empty directory. Files that are open stay
	// usable through their File until closed. A non-empty directory gets
	// ErrNotEmpty; removing "." gets fs.ErrInvalid.
	Remove(name string) error
	// Rename moves oldname to newname, replacing newname if it is a file.
	// Open Files follow the file to its new name; a replaced file stays
	// usable through its open Files. A newname that is an existing
	// directory gets fs.ErrExist, a directory onto a file ErrNotDir, a
	// directory into its own subtree or "." on either side fs.ErrInvalid.
	// Renaming a file onto itself does nothing.
	Rename(oldname, newname string) error
	// Stat describes a file or directory. The FileInfo's Name is the last
	// element of name.
	Stat(name string) (fs.FileInfo, error)
	// List returns the sorted names of the entries in one directory.
	List(dir string) ([]string, error)
	// MkdirAll creates a directory and any missing parents. A file in the
	// way gets ErrNotDir.
	MkdirAll(dir string, perm fs.FileMode) error
	// Lock takes an exclusive lock on name, creating the file if it does
	// not exist. A second Lock on the same name before the first is
	// released gets ErrLocked; a directory gets ErrIsDir. Close the
	// returned io.Closer to release; a second Close gets fs.ErrClosed. The
	// lock belongs to the file: renamed, it stays locked under its new
	// name.
	Lock(name string) (io.Closer, error)
	// SyncDir makes the entries of a directory (creations, removals and
	// renames within it) durable.
	SyncDir(dir string) error
}
