package cow

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/holeycow/holeycow/vfs"
)

// Role of a view.
type Role uint8

const (
	// RoleCopier: writes go to the overlay, reads see the shared state at
	// join (or last reset) plus the copier's own writes.
	RoleCopier Role = iota + 1
	// RoleWriter: reads and writes go to shared storage, after the
	// regions a mutation affects have been made stable at every copier.
	RoleWriter
)

func (r Role) String() string {
	switch r {
	case RoleCopier:
		return "copier"
	case RoleWriter:
		return "writer"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// DefaultBlockSize is the block size of a view whose Options leave it zero.
const DefaultBlockSize = 4096

// Options configure a view. The zero value is valid.
type Options struct {
	// BlockSize is the overlay and stability granularity in bytes: a power
	// of two between 512 and 1 MiB. Zero means DefaultBlockSize. Match
	// the engine's page size.
	BlockSize int
	// Store holds a copier's overlay blocks; nil means NewMemStore(). A
	// writer never puts anything in it.
	Store Store
	// Guard is called by a writer right before each mutation of shared
	// storage (fencing). See Guard.
	Guard Guard
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
	// HoldRemoved makes a writer move each file it removes into the
	// holding area (HoldDir) instead of deleting it, when a copier may
	// still read it: copiers then keep reading it there (KindHold) and
	// copy nothing, where they would otherwise copy the whole file into
	// their overlays (KindFile). Held files are deleted once every copier
	// has released them (CollectHeld). A file that a writer file open for
	// writing names, and a file replaced by a rename, are still preserved
	// as a whole. It also makes renames zero-copy: copiers that may still
	// read a file the writer renames follow it to its new name through a
	// handle (KindMove) instead of copying it, and preserve only what the
	// writer changes there later. A copier ignores it until it is
	// promoted.
	HoldRemoved bool
	// HoldResets is how many ResetCopier calls after a file was held the
	// writer waits before it collects the file: a copier that reset since
	// then no longer reads it, one that did not copies it at collection.
	// Set it to the number of copiers that reset in turn. Zero means 1.
	HoldResets int
}

// View is one node's view of shared storage. It implements vfs.FS. A view
// is either a writer or a copier; a copier can be promoted to writer in
// place (files stay open, the view does not change).
//
// Concurrency: every method is safe for concurrent use. Reads by a writer
// go straight to shared storage; its mutations of shared storage are
// serialized (each holds the writer lock for the stability check and the
// shared I/O, never across a Stabilize call). A copier's reads run in
// parallel with each other; its writes, Preserve and Reset exclude them.
type View struct {
	shared vfs.FS
	log    *slog.Logger
	// promoting is set while Promote runs, so that a Preserve call that a
	// Stabilizer routes back to this view returns at once.
	promoting atomic.Bool

	// rmu is the role lock. Every operation holds it shared; Promote and
	// SetBlockSize hold it exclusively. It guards role, and bs together
	// with w.mu (bs is written with both held).
	rmu  sync.RWMutex
	role Role
	bs   int64

	w writer
	c copier

	stabilizeCalls    atomic.Int64
	regionsStabilized atomic.Int64
	// followerPreserves counts the regions a copier preserved for a node
	// that follows a moved file (for tests).
	followerPreserves atomic.Int64
}

var _ vfs.FS = (*View)(nil)
var _ Preserver = (*View)(nil)
var _ ResetHandshake = (*View)(nil)

func newView(shared vfs.FS, opts Options) (*View, error) {
	if shared == nil {
		return nil, &fs.PathError{Op: "newview", Path: ".", Err: fs.ErrInvalid}
	}
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if err := checkBlockSize(bs); err != nil {
		return nil, err
	}
	v := &View{shared: shared, log: opts.Logger, bs: int64(bs)}
	if v.log == nil {
		v.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st := opts.Store
	if st == nil {
		st = NewMemStore()
	}
	v.c.init(st)
	v.w.init(v)
	v.w.mu.guard = opts.Guard
	v.w.mu.hold = opts.HoldRemoved
	v.w.mu.holdResets = uint64(max(opts.HoldResets, 1))
	return v, nil
}

func checkBlockSize(n int) error {
	if n < 512 || n > 1<<20 || bits.OnesCount(uint(n)) != 1 {
		return &fs.PathError{Op: "blocksize", Path: ".", Err: fmt.Errorf("cow: block size %d is not a power of two in [512, 1MiB]: %w", n, fs.ErrInvalid)}
	}
	return nil
}

// NewWriter returns a writer view over shared. Before each mutation of
// shared storage it asks s to make the affected regions stable. s must not
// be nil (use NewDirect() when there are no copiers).
func NewWriter(shared vfs.FS, s Stabilizer, opts Options) (*View, error) {
	if s == nil {
		return nil, &fs.PathError{Op: "newwriter", Path: ".", Err: fmt.Errorf("cow: nil Stabilizer: %w", fs.ErrInvalid)}
	}
	v, err := newView(shared, opts)
	if err != nil {
		return nil, err
	}
	v.role = RoleWriter
	v.w.mu.stab = s
	return v, nil
}

// NewCopier returns a copier view over shared. Its view is the shared
// state now plus its own writes; the writer must learn of it (Forget, or
// better ResetCopier, so that the view is a prefix) before it mutates
// shared storage again.
func NewCopier(shared vfs.FS, opts Options) (*View, error) {
	v, err := newView(shared, opts)
	if err != nil {
		return nil, err
	}
	v.role = RoleCopier
	return v, nil
}

// Role reports whether the view is a writer or a copier.
func (v *View) Role() Role {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	return v.role
}

// BlockSize reports the block size in bytes.
func (v *View) BlockSize() int {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	return int(v.bs)
}

// SetBlockSize changes the block size. It is allowed only while a copier
// has no overlay content and a writer has an empty stable set; otherwise it
// returns an error wrapping ErrBusy. An invalid size wraps fs.ErrInvalid.
func (v *View) SetBlockSize(n int) error {
	if err := checkBlockSize(n); err != nil {
		return err
	}
	v.rmu.Lock()
	defer v.rmu.Unlock()
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	if len(v.c.mu.entries) > 0 || len(v.c.mu.orphans) > 0 {
		return &fs.PathError{Op: "setblocksize", Path: ".", Err: fmt.Errorf("%w: overlay not empty", ErrBusy)}
	}
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	if v.w.mu.stable.n > 0 {
		return &fs.PathError{Op: "setblocksize", Path: ".", Err: fmt.Errorf("%w: stable set not empty", ErrBusy)}
	}
	v.w.forgetLocked() // a batch in flight must not record with the old size
	v.bs = int64(n)
	return nil
}

// Stats is a snapshot of a view's counters.
type Stats struct {
	Role              Role
	OverlayBytes      int64 // copier: bytes held in overlay blocks
	OverlayBlocks     int64 // copier: overlay blocks held
	OverlayFiles      int   // copier: paths with overlay state (blocks, size, whiteout)
	StableRegions     int64 // writer: size of the stable set (blocks, metas, files)
	StabilizeCalls    int64 // writer: calls made to the Stabilizer
	RegionsStabilized int64 // writer: regions passed to those calls
	HeldFiles         int   // writer: files it holds in the holding area (read once it holds or collects)
	FollowedFiles     int   // copier: files it reads where the writer renamed them, copying nothing
}

// Stats returns a snapshot of the view's counters.
func (v *View) Stats() Stats {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	st := Stats{
		Role:              v.role,
		StabilizeCalls:    v.stabilizeCalls.Load(),
		RegionsStabilized: v.regionsStabilized.Load(),
	}
	st.OverlayBytes, st.OverlayBlocks = v.c.store.Usage()
	v.c.mu.RLock()
	st.OverlayFiles = len(v.c.mu.entries)
	st.FollowedFiles = v.c.followedLocked()
	v.c.mu.RUnlock()
	v.w.mu.Lock()
	st.StableRegions = v.w.mu.stable.n
	st.HeldFiles = len(v.w.mu.held)
	v.w.mu.Unlock()
	return st
}

// Check verifies the view's internal invariants and returns every
// violation found (errors.Join), or nil. It reads every partial overlay
// block, so it is meant for tests.
func (v *View) Check() error {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		if err := v.c.checkEmpty(); err != nil {
			return err
		}
		return v.w.check(v.bs)
	}
	if err := v.w.checkEmpty(); err != nil {
		return err
	}
	return v.c.check(v.bs)
}

func pathErr(op, name string, err error) error {
	if pe, ok := err.(*fs.PathError); ok && pe.Path == name {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open opens a file; see vfs.FS.
func (v *View) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if err := vfs.CheckPath("open", name); err != nil {
		return nil, err
	}
	if err := checkReserved("open", name); err != nil {
		return nil, err
	}
	if err := vfs.CheckFlag(name, flag); err != nil {
		return nil, err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.wOpen(name, flag, perm)
	}
	return v.cOpen(name, flag, perm)
}

// Remove removes a file or an empty directory; see vfs.FS.
func (v *View) Remove(name string) error {
	if err := vfs.CheckPath("remove", name); err != nil {
		return err
	}
	if err := checkReserved("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrInvalid}
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.wRemove(name)
	}
	return v.cRemove(name)
}

// Rename moves oldname to newname; see vfs.FS.
func (v *View) Rename(oldname, newname string) error {
	if err := vfs.CheckPath("rename", oldname); err != nil {
		return err
	}
	if err := vfs.CheckPath("rename", newname); err != nil {
		return err
	}
	if err := checkReserved("rename", oldname); err != nil {
		return err
	}
	if err := checkReserved("rename", newname); err != nil {
		return err
	}
	if oldname == "." || newname == "." {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrInvalid}
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.wRename(oldname, newname)
	}
	return v.cRename(oldname, newname)
}

// Stat describes a file or directory; see vfs.FS.
func (v *View) Stat(name string) (fs.FileInfo, error) {
	if err := vfs.CheckPath("stat", name); err != nil {
		return nil, err
	}
	if err := checkReserved("stat", name); err != nil {
		return nil, err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.shared.Stat(name)
	}
	return v.cStat(name)
}

// List returns the sorted names in a directory; see vfs.FS.
func (v *View) List(dir string) ([]string, error) {
	if err := vfs.CheckPath("list", dir); err != nil {
		return nil, err
	}
	if err := checkReserved("list", dir); err != nil {
		return nil, err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		names, err := v.shared.List(dir)
		return dropReserved(dir, names), err
	}
	return v.cList(dir)
}

// MkdirAll creates a directory and its missing parents; see vfs.FS.
func (v *View) MkdirAll(dir string, perm fs.FileMode) error {
	if err := vfs.CheckPath("mkdirall", dir); err != nil {
		return err
	}
	if err := checkReserved("mkdirall", dir); err != nil {
		return err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.wMkdirAll(dir, perm)
	}
	return v.cMkdirAll(dir, perm)
}

// Lock takes an exclusive lock on name, creating the file if needed; see
// vfs.FS. A copier's locks live in its own memory (they guard only its own
// engine); a writer's are taken on shared storage.
func (v *View) Lock(name string) (io.Closer, error) {
	if err := vfs.CheckPath("lock", name); err != nil {
		return nil, err
	}
	if err := checkReserved("lock", name); err != nil {
		return nil, err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.wLock(name)
	}
	return v.cLock(name)
}

// SyncDir makes a directory's entries durable on shared storage (writer)
// or does nothing but check the directory (copier).
func (v *View) SyncDir(dir string) error {
	if err := vfs.CheckPath("syncdir", dir); err != nil {
		return err
	}
	if err := checkReserved("syncdir", dir); err != nil {
		return err
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role == RoleWriter {
		return v.shared.SyncDir(dir)
	}
	return v.cSyncDir(dir)
}

// orBackground treats a nil context as context.Background(), so that bad
// input does not panic.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
