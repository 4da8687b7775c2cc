package leveldbstore

import (
	"io"
	"io/fs"
	"sync"

	"github.com/holeycow/holeycow/vfs"
)

// reader is storage.Reader over a vfs.File: it keeps the cursor that Read
// and Seek use.
//
// Concurrency: ReadAt is safe for concurrent use; Read and Seek share the
// cursor under a mutex. Close must not race with other calls.
type reader struct {
	f vfs.File

	mu  sync.Mutex // guards pos
	pos int64
}

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = r.pos
	case io.SeekEnd:
		size, err := r.f.Size()
		if err != nil {
			return 0, err
		}
		base = size
	default:
		return 0, &fs.PathError{Op: "seek", Path: r.f.Name(), Err: ErrSeek}
	}
	if base+offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: r.f.Name(), Err: ErrSeek}
	}
	r.pos = base + offset
	return r.pos, nil
}

func (r *reader) Close() error { return r.f.Close() }

// writer is storage.Writer over a vfs.File: it appends at its cursor, and
// its first Sync also syncs the directory the file was created in.
//
// Concurrency: one goroutine at a time (goleveldb writes each file from
// one).
type writer struct {
	f      vfs.File
	fsys   vfs.FS
	dir    string
	pos    int64
	synced bool // the directory has been synced since the file was created
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.pos)
	w.pos += int64(n)
	return n, err
}

func (w *writer) Sync() error {
	if err := w.f.Sync(); err != nil {
		return err
	}
	if !w.synced {
		if err := w.fsys.SyncDir(w.dir); err != nil {
			return err
		}
		w.synced = true
	}
	return nil
}

func (w *writer) Close() error { return w.f.Close() }
