package kv

import (
	"context"
	"errors"
	"math"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
)

// ResetOnRequest is the raftcluster.Config.ResetThreshold of a member
// whose copiers reset only when they ask to (a database that misses
// compacted entries): Storage reports such a copier's overlay at it. A
// lower threshold also works (the leader then also resets copiers whose
// overlay reaches it).
const ResetOnRequest = math.MaxInt64 / 2

// Storage is a member's raftcluster.Storage: its netstorage.Storage, with
// the engine's compaction safety folded in.
//
//   - BecomeWriter first drops a copier view whose database misses
//     entries the log no longer holds (replica.Replica.DropGapView): the
//     member then becomes the writer on a fresh writer view of shared
//     storage, as the previous writer left it, instead of promoting an
//     older database over acknowledged writes.
//   - OverlayBytes reports a copier that asked for a reset
//     (Engine.ResetRequested) at ResetOnRequest, so that the leader
//     grants it the reset slot; Reset clears the request.
//   - BecomeCopier resets (through the new writer's handshake) a copier
//     whose database is behind the compacted log (raftcluster.ErrCompacted)
//     instead of failing at every retry.
//
// Concurrency: raftcluster calls it from one goroutine at a time, as it
// does any Storage; OverlayBytes may run beside the others.
type Storage struct {
	*netstorage.Storage
	e *Engine
}

var _ raftcluster.Storage = (*Storage)(nil)

// NewStorage returns st (whose Config.Engine is e) with e's compaction
// safety, for raftcluster.Config.Storage.
func NewStorage(st *netstorage.Storage, e *Engine) *Storage { return &Storage{Storage: st, e: e} }

// BecomeWriter implements raftcluster.Storage.
func (s *Storage) BecomeWriter(ctx context.Context, epoch uint64) error {
	// A copier view with a gap is not promoted: it is invalidated, and
	// netstorage opens a fresh writer view instead.
	s.e.rep.DropGapView()
	if err := s.Storage.BecomeWriter(ctx, epoch); err != nil {
		return err
	}
	// The writer has no overlay: a reset asked for on the copier view is
	// moot.
	s.e.resetReq.Store(false)
	return nil
}

// BecomeCopier implements raftcluster.Storage.
func (s *Storage) BecomeCopier(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	wasWriter := s.onWriterView()
	err := s.Storage.BecomeCopier(ctx, epoch, w)
	if err == nil && wasWriter {
		// A fresh copier view: a request made on the writer view
		// concerned no overlay of it.
		s.e.resetReq.Store(false)
	}
	if err == nil || !errors.Is(err, raftcluster.ErrCompacted) {
		return err
	}
	// The copier's own database is older than the log reaches: catching
	// up cannot succeed. Re-base the view on shared storage through the
	// writer's reset handshake instead.
	if rerr := s.Storage.Reset(ctx, epoch, w); rerr != nil {
		return errors.Join(err, rerr)
	}
	s.e.resetReq.Store(false)
	return nil
}

// Reset implements raftcluster.Storage.
func (s *Storage) Reset(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	if err := s.Storage.Reset(ctx, epoch, w); err != nil {
		return err
	}
	s.e.resetReq.Store(false)
	return nil
}

// OverlayBytes implements raftcluster.Storage: the overlay's size, or
// ResetOnRequest while the copier asks for a reset.
func (s *Storage) OverlayBytes() int64 {
	b := s.Storage.OverlayBytes()
	if s.e.resetReq.Load() && !s.onWriterView() {
		b = max(b, ResetOnRequest)
	}
	return b
}

// onWriterView reports whether the member's current view is a writer's.
func (s *Storage) onWriterView() bool {
	v := s.View()
	return v != nil && v.Role() == cow.RoleWriter
}
