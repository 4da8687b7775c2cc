package cluster

import (
	"context"
	"sync"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/cowlocal"
	"github.com/holeycow/holeycow/vfs"
)

// InProcess returns a StorageFunc for members that share one process:
// raftcluster/cowlocal (every member a cow.View over shared, the writer's
// stabilizer a cow.Local over the copiers' views), with two additions of
// its own:
//
//   - the role changes (BecomeWriter, BecomeCopier, Reset) of the group's
//     members run one at a time. cowlocal lets a member that becomes a
//     copier make its view while another member becomes the writer: the
//     writer can gather the copier views before the new view is
//     published and run SetCopiers before it is, and never preserve for
//     it (TestProcStorage_BecomeWriter_copierInFlight);
//   - a role change that cowlocal settles without opening the engine (the
//     view already has the role, but the engine's last Open failed) opens
//     the engine on the view.
func InProcess(shared vfs.FS, opts cow.Options) StorageFunc {
	g := &procGroup{g: cowlocal.NewGroup(shared, opts), turn: make(chan struct{}, 1)}
	return func(id string, eng Engine) (Storage, error) {
		e := &trackedEngine{Engine: eng}
		return &procStorage{Storage: g.g.Storage(id, e), group: g, eng: e}, nil
	}
}

// procGroup is the cowlocal group of an InProcess StorageFunc.
//
// Concurrency: turn is a one-slot semaphore held across a role change (a
// channel rather than a mutex, so that it can be given up to ctx, and a
// member waiting for it is durably blocked in a synctest bubble).
type procGroup struct {
	g    *cowlocal.Group
	turn chan struct{}
}

// procStorage is one member's Storage: cowlocal's, role changes
// serialized across the group.
//
// Concurrency: its raftcluster.Storage methods are called from one
// goroutine; FS, View, SetGuard and Check are safe for concurrent use.
type procStorage struct {
	*cowlocal.Storage
	group *procGroup
	eng   *trackedEngine
}

var _ Storage = (*procStorage)(nil)

// Attach implements Storage.
func (s *procStorage) Attach(n *raftcluster.Node) { s.SetGuard(n.Guard()) }

// StabilityAddr implements Storage: the stabilizer is in process.
func (s *procStorage) StabilityAddr() string { return "" }

// Close implements Storage; the engine is closed by the node.
func (s *procStorage) Close() error { return nil }

// BecomeWriter implements raftcluster.Storage (see InProcess).
func (s *procStorage) BecomeWriter(ctx context.Context, epoch uint64) error {
	return s.change(ctx, func() error { return s.Storage.BecomeWriter(ctx, epoch) })
}

// BecomeCopier implements raftcluster.Storage (see InProcess).
func (s *procStorage) BecomeCopier(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	return s.change(ctx, func() error { return s.Storage.BecomeCopier(ctx, epoch, writer) })
}

// Reset implements raftcluster.Storage (see InProcess).
func (s *procStorage) Reset(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	return s.change(ctx, func() error { return s.Storage.Reset(ctx, epoch, writer) })
}

// change runs the role change f while no other member of the group runs
// one, then makes sure the engine is open on the member's view.
func (s *procStorage) change(ctx context.Context, f func() error) error {
	select {
	case s.group.turn <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-s.group.turn }()
	if err := f(); err != nil {
		return err
	}
	return s.eng.openOn(ctx, s.FS())
}

// trackedEngine is an Engine that remembers the view it is open on.
//
// Concurrency: safe for concurrent use as far as the Engine is.
type trackedEngine struct {
	Engine

	// mu guards on: the view of the last Open, nil after a failed Open
	// or a Close.
	mu struct {
		sync.Mutex
		on vfs.FS
	}
}

func (e *trackedEngine) set(fsys vfs.FS) {
	e.mu.Lock()
	e.mu.on = fsys
	e.mu.Unlock()
}

// Open implements Engine.
func (e *trackedEngine) Open(ctx context.Context, fsys vfs.FS) error {
	e.set(nil)
	if err := e.Engine.Open(ctx, fsys); err != nil {
		return err
	}
	e.set(fsys)
	return nil
}

// Close implements Engine.
func (e *trackedEngine) Close() error {
	e.set(nil)
	return e.Engine.Close()
}

// openOn opens the engine on fsys unless it is open on it already.
func (e *trackedEngine) openOn(ctx context.Context, fsys vfs.FS) error {
	e.mu.Lock()
	on := e.mu.on
	e.mu.Unlock()
	if fsys == nil || on == fsys {
		return nil
	}
	return e.Open(ctx, fsys)
}
