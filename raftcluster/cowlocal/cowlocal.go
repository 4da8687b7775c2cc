package cowlocal

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// Engine is the application's engine on top of a member's view.
type Engine interface {
	// Close closes the engine and every file it holds on the view.
	Close() error
	// Open opens the engine on fsys and catches up to the node's applied
	// index.
	Open(ctx context.Context, fsys vfs.FS) error
}

// Group holds the views of the members that share one FS in this process.
//
// Concurrency: safe for concurrent use.
type Group struct {
	shared vfs.FS
	opts   cow.Options

	// mu guards members.
	mu struct {
		sync.Mutex
		members map[string]*Storage
	}
}

// NewGroup returns a group over shared; opts (block size, logger) apply to
// every view (Store and Guard are per member and ignored here).
func NewGroup(shared vfs.FS, opts cow.Options) *Group {
	g := &Group{shared: shared, opts: opts}
	g.mu.members = make(map[string]*Storage)
	return g
}

// Storage returns the Storage of member id, replacing any earlier one
// (a restarted member starts from a fresh copier view).
func (g *Group) Storage(id string, eng Engine) *Storage {
	s := &Storage{g: g, id: id, eng: eng}
	g.mu.Lock()
	g.mu.members[id] = s
	g.mu.Unlock()
	return s
}

func (g *Group) member(id string) *Storage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.members[id]
}

// Storage is one member's raftcluster.Storage over a cow.View.
//
// Concurrency: see the package doc.
type Storage struct {
	g   *Group
	id  string
	eng Engine

	// mu guards the fields in it.
	mu struct {
		sync.Mutex
		view   *cow.View
		local  *cow.Local // writer only
		guard  func(context.Context) error
		open   bool              // engine open
		gens   map[string]uint64 // writer: copier generations last set
		copier map[string]*cow.View
	}
}

var _ raftcluster.Storage = (*Storage)(nil)

// SetGuard installs the node's Guard for the writer view.
func (s *Storage) SetGuard(g func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.guard = g
	if s.mu.view != nil && s.mu.view.Role() == cow.RoleWriter {
		s.mu.view.SetGuard(g)
	}
}

// FS returns the member's current view (nil before the first role).
func (s *Storage) FS() vfs.FS {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.view == nil {
		return nil
	}
	return s.mu.view
}

// View returns the member's current view, as FS does.
func (s *Storage) View() *cow.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.view
}

// copierView returns the member's view if it is a copier.
func (s *Storage) copierView() *cow.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.view != nil && s.mu.view.Role() == cow.RoleCopier {
		return s.mu.view
	}
	return nil
}

func (s *Storage) newCopier() (*cow.View, error) {
	o := s.g.opts
	o.Guard, o.Store = nil, nil
	return cow.NewCopier(s.g.shared, o)
}

// reopen closes the engine, installs v and opens the engine on it.
func (s *Storage) reopen(ctx context.Context, v *cow.View) error {
	s.mu.Lock()
	open := s.mu.open
	s.mu.open = false
	s.mu.Unlock()
	if open {
		if err := s.eng.Close(); err != nil {
			return fmt.Errorf("cowlocal: %s: close engine: %w", s.id, err)
		}
	}
	s.mu.Lock()
	s.mu.view = v
	s.mu.Unlock()
	if err := s.eng.Open(ctx, v); err != nil {
		return fmt.Errorf("cowlocal: %s: open engine: %w", s.id, err)
	}
	s.mu.Lock()
	s.mu.open = true
	s.mu.Unlock()
	return nil
}

// BecomeWriter implements raftcluster.Storage: a copier view is promoted
// through a Local over every other member's copier view; a member with no
// view yet opens a writer view.
func (s *Storage) BecomeWriter(ctx context.Context, epoch uint64) error {
	local := cow.NewLocal()
	for _, p := range s.others() {
		local.Add(p)
	}
	s.mu.Lock()
	v, guard := s.mu.view, s.mu.guard
	s.mu.Unlock()
	switch {
	case v == nil:
		o := s.g.opts
		o.Guard, o.Store = guard, nil
		w, err := cow.NewWriter(s.g.shared, local, o)
		if err != nil {
			return err
		}
		if err := s.reopen(ctx, w); err != nil {
			return err
		}
	case v.Role() == cow.RoleCopier:
		if err := v.Promote(ctx, local); err != nil {
			return fmt.Errorf("cowlocal: %s: promote: %w", s.id, err)
		}
		v.SetGuard(guard)
	default: // already the writer (a new epoch of the same leader)
		v.SetStabilizer(local)
		v.Forget()
	}
	s.mu.Lock()
	s.mu.local = local
	s.mu.gens = nil
	s.mu.Unlock()
	return nil
}

// others returns the copier views of the other members of the group.
func (s *Storage) others() map[string]*cow.View {
	s.g.mu.Lock()
	ms := make([]*Storage, 0, len(s.g.mu.members))
	for id, m := range s.g.mu.members {
		if id != s.id {
			ms = append(ms, m)
		}
	}
	s.g.mu.Unlock()
	out := map[string]*cow.View{}
	for _, m := range ms {
		if v := m.copierView(); v != nil {
			out[m.id] = v
		}
	}
	return out
}

// SetCopiers implements raftcluster.Storage: the writer's Local holds
// exactly the listed copiers' views, and a changed generation makes the
// writer forget its stable set.
func (s *Storage) SetCopiers(epoch, generation uint64, copiers []raftcluster.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.local == nil || s.mu.view == nil || s.mu.view.Role() != cow.RoleWriter {
		return
	}
	want := map[string]*cow.View{}
	gens := map[string]uint64{}
	for _, c := range copiers {
		gens[c.ID] = c.Generation
		if m := s.g.member(c.ID); m != nil {
			if v := m.copierView(); v != nil {
				want[c.ID] = v
			}
		}
	}
	forget := false
	for id, v := range want {
		if s.mu.copier[id] != v {
			s.mu.local.Add(v)
			forget = true
		}
	}
	for id, v := range s.mu.copier {
		if want[id] != v {
			s.mu.local.Remove(v)
		}
	}
	for id, g := range gens {
		if old, ok := s.mu.gens[id]; !ok || old != g {
			forget = true
		}
	}
	s.mu.copier, s.mu.gens = want, gens
	if forget {
		s.mu.view.Forget()
	}
}

// BecomeCopier implements raftcluster.Storage: a member that was the
// writer reopens its engine on a fresh copier view; a member with no view
// yet opens one; a copier keeps its view.
func (s *Storage) BecomeCopier(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	s.mu.Lock()
	v := s.mu.view
	s.mu.Unlock()
	if v != nil && v.Role() == cow.RoleCopier {
		return nil
	}
	s.mu.Lock()
	s.mu.local, s.mu.copier, s.mu.gens = nil, nil, nil
	s.mu.Unlock()
	c, err := s.freshCopier(ctx, writer.ID)
	if err != nil {
		return err
	}
	return s.reopen(ctx, c)
}

// freshCopier makes a new, empty copier view for s. When writerID names
// another member of the group that is the writer, the view is made inside
// that writer's ResetCopier, so that it is a prefix of the writer's
// mutations (invariant 5), and it joins the writer's Local before the
// writer's mutations resume, so that the writer preserves for it before
// its next mutation (invariant 2). SetCopiers alone would add it too late:
// it runs when the writer applies a membership change, which can be before
// this member's view exists.
func (s *Storage) freshCopier(ctx context.Context, writerID string) (*cow.View, error) {
	var w *Storage
	if writerID != s.id {
		w = s.g.member(writerID)
	}
	var wv *cow.View
	var local *cow.Local
	if w != nil {
		w.mu.Lock()
		wv, local = w.mu.view, w.mu.local
		w.mu.Unlock()
	}
	if wv == nil || wv.Role() != cow.RoleWriter || local == nil {
		return s.newCopier()
	}
	var nv *cow.View
	err := wv.ResetCopier(ctx, func() error {
		c, err := s.newCopier()
		if err != nil {
			return err
		}
		local.Add(c)
		// Publish the view before the writer's mutations resume, so that
		// a concurrent SetCopiers finds this view and not the old one.
		s.mu.Lock()
		s.mu.view = c
		s.mu.Unlock()
		nv = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cowlocal: %s: join writer %s: %w", s.id, writerID, err)
	}
	return nv, nil
}

// Fence implements raftcluster.Storage. The Guard already refuses; the
// view stays a (fenced) writer until BecomeCopier replaces it.
func (s *Storage) Fence(epoch uint64) {}

// Reset implements raftcluster.Storage: close the engine, drop the overlay
// through the writer's ResetCopier (or start a fresh copier view when the
// writer is not in this group), reopen.
func (s *Storage) Reset(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	s.mu.Lock()
	v, open := s.mu.view, s.mu.open
	s.mu.open = false
	s.mu.Unlock()
	if open {
		if err := s.eng.Close(); err != nil {
			return fmt.Errorf("cowlocal: %s: close engine: %w", s.id, err)
		}
	}
	var h cow.ResetHandshake
	if w := s.g.member(writer.ID); w != nil && writer.ID != s.id {
		if wv := w.View(); wv != nil && wv.Role() == cow.RoleWriter {
			h = wv
		}
	}
	if v == nil || v.Role() != cow.RoleCopier || h == nil {
		nv, err := s.freshCopier(ctx, writer.ID)
		if err != nil {
			return err
		}
		return s.reopen(ctx, nv)
	}
	if err := v.Reset(ctx, h); err != nil {
		return fmt.Errorf("cowlocal: %s: %w", s.id, err)
	}
	return s.reopen(ctx, v)
}

// OverlayBytes implements raftcluster.Storage.
func (s *Storage) OverlayBytes() int64 {
	v := s.copierView()
	if v == nil {
		return 0
	}
	return v.Stats().OverlayBytes
}

// Check verifies the view's invariants.
func (s *Storage) Check() error {
	v := s.View()
	if v == nil {
		return nil
	}
	return errors.Join(v.Check())
}
