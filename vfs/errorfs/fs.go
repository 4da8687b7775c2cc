package errorfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/holeycow/holeycow/vfs"
)

// FS wraps a vfs.FS and consults an Injector before every operation on it
// and on the files opened through it.
//
// An op that the injector fails does not reach the inner FS, with one
// exception: Close (of a file or a lock) always releases the inner handle,
// as close(2) does even when it reports an error, and then returns the
// injected error.
//
// FS has RemoveAll. When the inner FS is a vfs.RemoveAller, RemoveAll is
// one OpRemoveAll op passed to it; otherwise it is an OpRemoveAll op
// followed by the entry-by-entry fallback of vfs.RemoveAll, each step an op
// of its own. Files are vfs.DataSyncers exactly when the inner FS's files
// are.
//
// Concurrency: FS is safe for concurrent use, as are its files (to the
// extent the inner FS's are); the counters are atomic.
type FS struct {
	inner    vfs.FS
	inj      Injector
	ops      atomic.Int64 // ops seen
	injected atomic.Int64 // ops failed by the injector
}

var (
	_ vfs.FS          = (*FS)(nil)
	_ vfs.RemoveAller = (*FS)(nil)
	_ vfs.File        = (*file)(nil)
	_ vfs.DataSyncer  = (*syncFile)(nil)
)

// WithErrors wraps inner, which must not be nil, so that inj decides which
// operations fail. A nil inj never fails any: the FS then only counts
// operations.
func WithErrors(inner vfs.FS, inj Injector) *FS {
	return &FS{inner: inner, inj: inj}
}

// Ops returns the number of operations the FS has seen, failed or not: FS
// methods, and File methods other than Name. Run a workload once without
// injection to learn how many ops it takes.
func (f *FS) Ops() int64 { return f.ops.Load() }

// Injected returns the number of operations that the injector failed.
func (f *FS) Injected() int64 { return f.injected.Load() }

// Unwrap returns the inner FS.
func (f *FS) Unwrap() vfs.FS { return f.inner }

// Check verifies the FS's invariants, and the inner FS's if it has a
// Check method.
func (f *FS) Check() error {
	injected := f.injected.Load() // before ops: ops grows first
	if ops := f.ops.Load(); injected > ops {
		return fmt.Errorf("errorfs: %d injected errors but only %d ops", injected, ops)
	}
	if c, ok := f.inner.(interface{ Check() error }); ok {
		return c.Check()
	}
	return nil
}

// maybe counts op and asks the injector whether it fails. An error is
// returned as an *fs.PathError.
func (f *FS) maybe(op Op) error {
	f.ops.Add(1)
	if f.inj == nil {
		return nil
	}
	err := f.inj.MaybeError(op)
	if err == nil {
		return nil
	}
	f.injected.Add(1)
	if pe, ok := err.(*fs.PathError); ok {
		return pe
	}
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

// Open opens a file through the inner FS, as an OpCreate op if flag has
// os.O_CREATE or os.O_TRUNC and an OpOpen op otherwise.
func (f *FS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	kind := OpOpen
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		kind = OpCreate
	}
	if err := f.maybe(Op{Kind: kind, Path: name}); err != nil {
		return nil, err
	}
	inner, err := f.inner.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	wf := &file{fs: f, inner: inner, name: name}
	if _, ok := inner.(vfs.DataSyncer); ok {
		return &syncFile{wf}, nil
	}
	return wf, nil
}

// Remove is an OpRemove op.
func (f *FS) Remove(name string) error {
	if err := f.maybe(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// RemoveAll is an OpRemoveAll op (see FS).
func (f *FS) RemoveAll(name string) error {
	if err := f.maybe(Op{Kind: OpRemoveAll, Path: name}); err != nil {
		return err
	}
	if ra, ok := f.inner.(vfs.RemoveAller); ok {
		return ra.RemoveAll(name)
	}
	return vfs.RemoveAll(plainFS{f}, name)
}

// plainFS hides FS's RemoveAll, for vfs.RemoveAll's fallback.
type plainFS struct{ vfs.FS }

// Rename is an OpRename op.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.maybe(Op{Kind: OpRename, Path: oldname, NewPath: newname}); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// Stat is an OpStat op.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if err := f.maybe(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

// List is an OpList op.
func (f *FS) List(dir string) ([]string, error) {
	if err := f.maybe(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

// MkdirAll is an OpMkdirAll op.
func (f *FS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := f.maybe(Op{Kind: OpMkdirAll, Path: dir}); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir, perm)
}

// Lock is an OpLock op; closing the lock is an OpUnlock op.
func (f *FS) Lock(name string) (io.Closer, error) {
	if err := f.maybe(Op{Kind: OpLock, Path: name}); err != nil {
		return nil, err
	}
	l, err := f.inner.Lock(name)
	if err != nil {
		return nil, err
	}
	return &lock{fs: f, inner: l, name: name}, nil
}

// SyncDir is an OpSyncDir op.
func (f *FS) SyncDir(dir string) error {
	if err := f.maybe(Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// lock is a lock taken through FS.
//
// Concurrency: as safe as the inner lock; lock adds no state.
type lock struct {
	fs    *FS
	inner io.Closer
	name  string
}

// Close releases the lock even when the injector fails it.
func (l *lock) Close() error {
	injected := l.fs.maybe(Op{Kind: OpUnlock, Path: l.name})
	err := l.inner.Close()
	if injected != nil {
		return injected
	}
	return err
}

// file is a File opened through FS.
//
// Concurrency: as safe as the inner file; file adds no state.
type file struct {
	fs    *FS
	inner vfs.File
	name  string // as passed to Open
}

// syncFile is a file whose inner file is a vfs.DataSyncer.
type syncFile struct{ *file }

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.maybe(Op{Kind: OpRead, Path: f.name, Off: off, Len: int64(len(p))}); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.maybe(Op{Kind: OpWrite, Path: f.name, Off: off, Len: int64(len(p))}); err != nil {
		return 0, err
	}
	return f.inner.WriteAt(p, off)
}

func (f *file) Truncate(size int64) error {
	if err := f.fs.maybe(Op{Kind: OpTruncate, Path: f.name, Off: size}); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *file) Sync() error {
	if err := f.fs.maybe(Op{Kind: OpSync, Path: f.name}); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *file) Size() (int64, error) {
	if err := f.fs.maybe(Op{Kind: OpSize, Path: f.name}); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

// Close closes the inner file even when the injector fails it.
func (f *file) Close() error {
	injected := f.fs.maybe(Op{Kind: OpClose, Path: f.name})
	err := f.inner.Close()
	if injected != nil {
		return injected
	}
	return err
}

func (f *file) Name() string { return f.inner.Name() }

func (f *syncFile) SyncData() error {
	if err := f.fs.maybe(Op{Kind: OpSyncData, Path: f.name}); err != nil {
		return err
	}
	return f.inner.(vfs.DataSyncer).SyncData()
}
