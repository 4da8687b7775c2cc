package netstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// copierView is the copier view as the Responder sees it. Once detached
// (the view was promoted or replaced), the Responder can no longer touch
// it: its lease timer and Close would otherwise invalidate a writer.
//
// Concurrency: safe for concurrent use.
type copierView struct {
	v        *cow.View
	detached atomic.Bool
}

var _ stability.CopierView = (*copierView)(nil)

func (c *copierView) detach() { c.detached.Store(true) }

func (c *copierView) Preserve(ctx context.Context, regions []cow.Region) error {
	if c.detached.Load() {
		return ErrDetached
	}
	return c.v.Preserve(ctx, regions)
}

func (c *copierView) Invalidate(cause error) {
	if !c.detached.Load() {
		c.v.Invalidate(cause)
	}
}

func (c *copierView) Reset(ctx context.Context, h cow.ResetHandshake) error {
	if c.detached.Load() {
		return ErrDetached
	}
	return c.v.Reset(ctx, h)
}

// newCopier installs a fresh copier view and its Responder, ending both
// roles first. The engine must be closed.
func (s *Storage) newCopier() error {
	g, err := s.guard()
	if err != nil {
		return err
	}
	o, err := s.viewOptions(g)
	if err != nil {
		return err
	}
	v, err := cow.NewCopier(s.cfg.Shared, o)
	if err != nil {
		if c, ok := o.Store.(io.Closer); ok {
			c.Close()
		}
		return fmt.Errorf("netstorage: %s: copier view: %w", s.cfg.ID, err)
	}
	cv := &copierView{v: v}
	resp, err := stability.NewResponder(stability.ResponderConfig{ID: s.cfg.ID, View: cv,
		Transport: s.cfg.Transport, Lease: s.cfg.Lease, Logger: s.cfg.Logger})
	if err != nil {
		s.release(v)
		return fmt.Errorf("netstorage: %s: responder: %w", s.cfg.ID, err)
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		resp.Close()
		s.release(v)
		return ErrClosed
	}
	s.dropWriterLocked()
	s.dropCopierLocked()
	old := s.mu.view
	s.mu.view, s.mu.cv, s.mu.resp, s.mu.joined, s.mu.viewWriterEpoch = v, cv, resp, false, 0
	s.mux.SetResponder(resp)
	s.mu.Unlock()
	s.release(old)
	return nil
}

// BecomeCopier implements raftcluster.Storage. A copier view that has
// joined keeps its overlay and its lease, which the new writer's
// Coordinator renews (it waits for every such copier). A member that was
// the writer, or has no view, closes its engine, opens a fresh copier
// view, joins the writer through the reset handshake and reopens the
// engine on the view.
func (s *Storage) BecomeCopier(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	if err := s.isClosed(); err != nil {
		return err
	}
	s.mu.Lock()
	v, resp, joined := s.mu.view, s.mu.resp, s.mu.joined
	s.dropWriterLocked()
	s.mu.Unlock()
	if v != nil && v.Role() == cow.RoleCopier && resp != nil {
		resp.ObserveEpoch(epoch)
		if joined {
			return s.ensureOpen(ctx)
		}
	} else {
		if err := s.closeEngine(); err != nil {
			return err
		}
		if err := s.newCopier(); err != nil {
			return err
		}
	}
	if err := s.join(ctx, epoch, writer); err != nil {
		return err
	}
	s.stats.joins.Add(1)
	return s.ensureOpen(ctx)
}

// Reset implements raftcluster.Storage: close the engine, drop the overlay
// through the writer's reset handshake (a member without a copier view
// opens a fresh one and joins), reopen the engine on the view.
func (s *Storage) Reset(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	if err := s.isClosed(); err != nil {
		return err
	}
	if err := s.closeEngine(); err != nil {
		return err
	}
	s.mu.Lock()
	v, resp := s.mu.view, s.mu.resp
	s.mu.Unlock()
	if v == nil || v.Role() != cow.RoleCopier || resp == nil {
		if err := s.newCopier(); err != nil {
			return err
		}
	}
	if err := s.join(ctx, epoch, writer); err != nil {
		// A leader that is excluded cannot become the writer until it
		// rejoins, and the state's writer, not being the leader, no
		// longer mutates: with a fresh view that refuses reads until it
		// joins, the node may rejoin (and become the writer, opening a
		// writer view afresh) instead of waiting for a dead writer.
		if n := s.node.Load(); n != nil && n.IsLeader() {
			s.log.Warn("netstorage: reset without the writer (this node leads)", "writer", writer.ID, "err", err)
			if cerr := s.newCopier(); cerr != nil {
				return errors.Join(err, cerr)
			}
			return nil
		}
		return err
	}
	s.stats.resets.Add(1)
	return s.ensureOpen(ctx)
}

// ensureOpen opens the engine on the current view unless it is open.
func (s *Storage) ensureOpen(ctx context.Context) error {
	s.mu.Lock()
	v, open := s.mu.view, s.mu.open
	s.mu.Unlock()
	if open || v == nil {
		return nil
	}
	return s.openEngine(ctx, v)
}

// join runs the reset handshake with writer, retrying for up to
// JoinTimeout while the state still names writer at epoch.
func (s *Storage) join(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	n := s.node.Load()
	if n == nil {
		return fmt.Errorf("%w: %s", ErrNoNode, s.cfg.ID)
	}
	if writer.ID == "" || writer.ID == s.cfg.ID {
		return fmt.Errorf("%w: %s: writer %q", ErrNoWriter, s.cfg.ID, writer.ID)
	}
	s.mu.Lock()
	resp := s.mu.resp
	s.mu.Unlock()
	if resp == nil {
		return fmt.Errorf("%w: %s: no copier role", ErrDetached, s.cfg.ID)
	}
	resp.ObserveEpoch(epoch)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	backoff := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := resp.Join(ctx, writerPeer(writer))
		if err == nil {
			break
		}
		st := n.State()
		// The leader itself is not the writer: that writer is deposed
		// (see Reset), so waiting for it is pointless.
		if ctx.Err() != nil || st.Epoch != epoch || st.Writer != writer.ID || n.IsLeader() || attempt >= 32 {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
				// The caller tells its ctx's end (errors.Is) from a
				// refusal.
				err = fmt.Errorf("%w: %w", cause, err)
			}
			return fmt.Errorf("netstorage: %s: join %s (epoch %d, %d attempts): %w", s.cfg.ID, writer.ID, epoch, attempt+1, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		case <-s.done:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, max(s.cfg.Lease/8, 10*time.Millisecond))
	}
	s.mu.Lock()
	if s.mu.resp == resp {
		s.mu.joined = true
	}
	s.mu.Unlock()
	s.log.Info("netstorage: joined", "writer", writer.ID, "epoch", epoch)
	return nil
}

// OverlayBytes implements raftcluster.Storage.
func (s *Storage) OverlayBytes() int64 {
	v := s.View()
	if v == nil || v.Role() != cow.RoleCopier {
		return 0
	}
	return v.Stats().OverlayBytes
}
