package cow

import (
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/holeycow/holeycow/vfs"
)

// file is an open file of a View. Its behaviour follows the view's role:
// a writer's file wraps a shared file; a copier's reads and writes go
// through the overlay. Promote turns the second kind into the first.
//
// Concurrency: safe for concurrent use, as vfs.File requires.
type file struct {
	v      *View
	name   string
	flag   int
	lock   bool // the file of a copier's lock (see lockHandle), never handed out
	closed atomic.Bool

	// sh is the shared file of a writer's file. It is set at Open, or by
	// Promote with the view's role lock held exclusively.
	sh vfs.File
	// wpath is where the file lives on shared storage now (it follows
	// renames); "" once it was removed or replaced. Guarded by v.w.mu.
	wpath string
	// wend is where the last write through this writer file ended (0:
	// none yet), to tell sequential writes (writer.seqAheadLocked).
	// Guarded by v.w.mu.
	wend int64

	// node is the overlay node a copier's file is bound to, or nil while
	// the file is found by name (guarded by v.c.mu).
	node *node
	// shmu guards rsh, a copier's cached read-only handle on the shared
	// file at name, and rgen, the reset generation it was opened in.
	shmu sync.Mutex
	rsh  vfs.File
	rgen uint64
}

var _ vfs.File = (*file)(nil)
var _ vfs.DataSyncer = (*file)(nil)

func (f *file) Name() string { return f.name }

func (f *file) readable(op string) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.flag&(os.O_WRONLY|os.O_RDWR) == os.O_WRONLY {
		return &fs.PathError{Op: op, Path: f.name, Err: vfs.ErrWriteOnly}
	}
	return nil
}

func (f *file) writable(op string) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return &fs.PathError{Op: op, Path: f.name, Err: vfs.ErrReadOnly}
	}
	return nil
}

func (f *file) open(op string) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

// ReadAt reads len(p) bytes at off; see vfs.File.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.readable("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return f.sh.ReadAt(p, off)
	}
	return f.v.cReadAt(f, p, off)
}

// WriteAt writes p at off; see vfs.File. A writer first makes the regions
// it changes stable.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.writable("write"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrInvalid}
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return f.v.wWriteAt(f, p, off)
	}
	return f.v.cWriteAt(f, p, off)
}

// Truncate sets the size; see vfs.File.
func (f *file) Truncate(size int64) error {
	if err := f.writable("truncate"); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return f.v.wTruncate(f, size)
	}
	return f.v.cTruncate(f, size)
}

// Sync syncs a writer's file; a copier's Sync does nothing (its overlay
// is volatile by design).
func (f *file) Sync() error {
	if err := f.open("sync"); err != nil {
		return err
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return f.sh.Sync()
	}
	return f.v.cFileCheck("sync", f)
}

// SyncData is Sync without metadata; see vfs.DataSyncer.
func (f *file) SyncData() error {
	if err := f.open("sync"); err != nil {
		return err
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return vfs.SyncData(f.sh)
	}
	return f.v.cFileCheck("sync", f)
}

// Size reports the size in the view.
func (f *file) Size() (int64, error) {
	if err := f.open("size"); err != nil {
		return 0, err
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		return f.v.wSize(f)
	}
	return f.v.cSize(f)
}

// Close releases the file; a second Close returns fs.ErrClosed.
func (f *file) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.v.rmu.RLock()
	defer f.v.rmu.RUnlock()
	if f.v.role == RoleWriter {
		f.v.w.mu.Lock()
		delete(f.v.w.mu.handles, f)
		f.v.w.mu.Unlock()
		return f.sh.Close()
	}
	return f.v.cClose(f)
}
