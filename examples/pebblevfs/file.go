package pebblevfs

import (
	"io"
	"io/fs"
	"path"
	"sync"

	pvfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/holeycow/holeycow/vfs"
)

// File is Pebble's vfs.File over a vfs.File: the cursor that Read and Write
// use lives here. A File from OpenDir has no vfs.File: its Sync is SyncDir.
//
// Concurrency: ReadAt, WriteAt, Sync, SyncData, SyncTo and Stat are safe for
// concurrent use; Read and Write share the cursor under a mutex, so
// concurrent ones are serialized (in no fixed order). Close must not race
// with other calls.
type File struct {
	fsys vfs.FS
	name string
	f    vfs.File // nil for a directory
	dir  bool

	mu  sync.Mutex // guards pos
	pos int64
}

var _ pvfs.File = (*File)(nil)

func (f *File) dirErr(op string) error {
	return &fs.PathError{Op: op, Path: f.name, Err: ErrDirectory}
}

// Read reads at the cursor and advances it.
func (f *File) Read(p []byte) (int, error) {
	if f.dir {
		return 0, f.dirErr("read")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads at off; the cursor does not move.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.dir {
		return 0, f.dirErr("read")
	}
	return f.f.ReadAt(p, off)
}

// Write writes at the cursor and advances it.
func (f *File) Write(p []byte) (int, error) {
	if f.dir {
		return 0, f.dirErr("write")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.f.WriteAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// WriteAt writes at off; the cursor does not move.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if f.dir {
		return 0, f.dirErr("write")
	}
	return f.f.WriteAt(p, off)
}

// Preallocate does nothing.
func (f *File) Preallocate(offset, length int64) error { return nil }

// Stat describes the open file (its size as of now).
func (f *File) Stat() (pvfs.FileInfo, error) {
	if f.dir {
		fi, err := f.fsys.Stat(f.name)
		if err != nil {
			return nil, err
		}
		return fileInfo{fi}, nil
	}
	size, err := f.f.Size()
	if err != nil {
		return nil, err
	}
	return fileInfo{openInfo{name: path.Base(f.name), size: size}}, nil
}

// Sync makes the file durable; on a directory, its entries (SyncDir).
func (f *File) Sync() error {
	if f.dir {
		return f.fsys.SyncDir(f.name)
	}
	return f.f.Sync()
}

// SyncData makes the file's data durable (vfs.SyncData).
func (f *File) SyncData() error {
	if f.dir {
		return f.fsys.SyncDir(f.name)
	}
	return vfs.SyncData(f.f)
}

// SyncTo syncs the whole file's data and reports a full sync; on a
// directory it does nothing and reports false.
func (f *File) SyncTo(length int64) (bool, error) {
	if f.dir {
		return false, nil
	}
	if err := vfs.SyncData(f.f); err != nil {
		return false, err
	}
	return true, nil
}

// Prefetch does nothing.
func (f *File) Prefetch(offset, length int64) error { return nil }

// Fd returns pvfs.InvalidFd: there is no descriptor.
func (f *File) Fd() uintptr { return pvfs.InvalidFd }

// Close closes the file.
func (f *File) Close() error {
	if f.dir {
		return nil
	}
	return f.f.Close()
}
