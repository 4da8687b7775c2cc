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

	// turn is held while a member changes its view or becomes the
	// writer (see roleChange): a one-slot semaphore rather than a mutex,
	// so that a wait for it ends with its ctx.
	turn chan struct{}

	// mu guards members and writer. A Storage's mu may be held when it
	// is taken, never the other way round.
	mu struct {
		sync.Mutex
		members map[string]*Storage
		// writer is the member that became the writer last, until it
		// becomes a copier: the one member that may still mutate shared
		// storage (an earlier writer's Guard closed before it became the
		// writer). Set and cleared in roleChange.
		writer *Storage
	}
}

// NewGroup returns a group over shared; opts (block size, logger) apply to
// every view (Store and Guard are per member and ignored here).
func NewGroup(shared vfs.FS, opts cow.Options) *Group {
	g := &Group{shared: shared, opts: opts, turn: make(chan struct{}, 1)}
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

// roleChange runs f, the view change of a role change, while no other
// member of the group runs one. A member becoming the writer gathers the
// copier views and installs its stabilizer over them in one turn; a
// member making a copier view joins the writer's stabilizer, or finds no
// writer, and publishes the view in one turn. So a copier view is either
// gathered or joins the writer itself: none is made between the two and
// missed (invariant 2).
func (g *Group) roleChange(ctx context.Context, id string, f func() error) error {
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("cowlocal: %s: wait for the group's role changes: %w", id, context.Cause(ctx))
	}
	defer func() { <-g.turn }()
	return f()
}

// writerView returns the view and the Direct of the group's writer other
// than s, if there is one.
func (g *Group) writerView(s *Storage) (*cow.View, *cow.Direct) {
	g.mu.Lock()
	w := g.mu.writer
	g.mu.Unlock()
	if w == nil || w == s {
		return nil, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.view, w.mu.local
}

// setWriter records s as the group's writer (writer true), or that s is
// not (false). s.mu is held, so that Check sees the two agree.
func (g *Group) setWriter(s *Storage, writer bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case writer:
		g.mu.writer = s
	case g.mu.writer == s:
		g.mu.writer = nil
	}
}

// isWriter reports whether s is the group's writer (no other member
// became the writer since s did).
func (g *Group) isWriter(s *Storage) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.writer == s
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
		local  *cow.Direct // writer only
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

// closeEngine closes the engine if it is open. After a failed Close the
// engine counts as closed.
func (s *Storage) closeEngine() error {
	s.mu.Lock()
	open := s.mu.open
	s.mu.open = false
	s.mu.Unlock()
	if !open {
		return nil
	}
	if err := s.eng.Close(); err != nil {
		return fmt.Errorf("cowlocal: %s: close engine: %w", s.id, err)
	}
	return nil
}

// ensureOpen opens the engine on the current view unless it is open
// (a role change whose Open failed opens it when the node calls again).
func (s *Storage) ensureOpen(ctx context.Context) error {
	s.mu.Lock()
	v, open := s.mu.view, s.mu.open
	s.mu.Unlock()
	if open || v == nil {
		return nil
	}
	if err := s.eng.Open(ctx, v); err != nil {
		return fmt.Errorf("cowlocal: %s: open engine: %w", s.id, err)
	}
	s.mu.Lock()
	s.mu.open = true
	s.mu.Unlock()
	return nil
}

// BecomeWriter implements raftcluster.Storage: a copier view is promoted
// through a Direct over every other member's copier view (an invalidated
// one is replaced by a writer view opened afresh on shared storage, and
// the engine reopened on it); a member with no
// view yet makes a writer view; a writer view (the same leader in a new
// epoch) gets a new Direct. Then the engine is opened unless it is.
func (s *Storage) BecomeWriter(ctx context.Context, epoch uint64) error {
	if v := s.View(); v != nil && v.Role() == cow.RoleWriter && !s.g.isWriter(s) {
		// Deposed and elected again without becoming a copier between
		// (the node lagged behind the log): another member wrote since,
		// so this view's caches and the engine opened on it are stale.
		// Start afresh on a new writer view.
		return s.reopen(ctx, func() error {
			s.mu.Lock()
			s.mu.view, s.mu.local = nil, nil
			s.mu.Unlock()
			return s.becomeWriter(ctx)
		})
	}
	err := s.g.roleChange(ctx, s.id, func() error { return s.becomeWriter(ctx) })
	if errors.Is(err, cow.ErrInvalidated) {
		// The copier view may not be its engine's (the application
		// invalidated it: its engine misses what the log no longer
		// holds), so it must not be promoted. Start from shared storage
		// as the previous writer left it, on a fresh writer view.
		return s.reopen(ctx, func() error {
			s.mu.Lock()
			s.mu.view, s.mu.local = nil, nil
			s.mu.Unlock()
			return s.becomeWriter(ctx)
		})
	}
	if err != nil {
		return err
	}
	return s.ensureOpen(ctx)
}

func (s *Storage) becomeWriter(ctx context.Context) error {
	local := cow.NewDirect()
	for _, p := range s.others() {
		local.Add(p)
	}
	s.mu.Lock()
	v, guard := s.mu.view, s.mu.guard
	s.mu.Unlock()
	switch {
	case v == nil: // the engine is closed: it has never been opened
		o := s.g.opts
		o.Guard, o.Store = guard, nil
		w, err := cow.NewWriter(s.g.shared, local, o)
		if err != nil {
			return fmt.Errorf("cowlocal: %s: %w", s.id, err)
		}
		v = w
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
	s.mu.view, s.mu.local = v, local
	s.mu.copier, s.mu.gens = nil, nil
	s.g.setWriter(s, true)
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

// SetCopiers implements raftcluster.Storage: the writer's Direct holds
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
// writer closes its engine and reopens it on a fresh copier view; a member
// with no view yet opens one; a copier keeps its view (and opens the
// engine on it unless it is open).
func (s *Storage) BecomeCopier(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	if v := s.View(); v != nil && v.Role() == cow.RoleCopier {
		return s.ensureOpen(ctx)
	}
	return s.reopen(ctx, func() error { return s.freshCopier(ctx) })
}

// reopen closes the engine, runs the view change f in the group's
// roleChange and opens the engine on the view.
func (s *Storage) reopen(ctx context.Context, f func() error) error {
	if err := s.closeEngine(); err != nil {
		return err
	}
	if err := s.g.roleChange(ctx, s.id, f); err != nil {
		return err
	}
	return s.ensureOpen(ctx)
}

// freshCopier makes a new, empty copier view and publishes it as s's
// view; the engine must be closed, and the caller in the group's
// roleChange. When another member of the group is the writer, the view is
// made inside that writer's ResetCopier, so that it is a prefix of the
// writer's mutations (invariant 5), and it joins the writer's Direct before
// the writer's mutations resume, so that the writer preserves for it
// before its next mutation (invariant 2). SetCopiers alone would add it
// too late: it runs when the writer applies a membership change, which
// can be before this member's view exists. The writer is the group's, not
// the one the node names: a node that lags behind the log names a writer
// that no longer mutates.
func (s *Storage) freshCopier(ctx context.Context) error {
	wv, local := s.g.writerView(s)
	publish := func() error {
		o := s.g.opts
		o.Guard, o.Store = nil, nil
		c, err := cow.NewCopier(s.g.shared, o)
		if err != nil {
			return fmt.Errorf("cowlocal: %s: %w", s.id, err)
		}
		if local != nil {
			local.Add(c)
		}
		s.mu.Lock()
		s.mu.view = c
		s.mu.local, s.mu.copier, s.mu.gens = nil, nil, nil
		s.g.setWriter(s, false)
		s.mu.Unlock()
		return nil
	}
	if wv == nil || local == nil {
		return publish()
	}
	// Publish the view before the writer's mutations resume, so that a
	// concurrent SetCopiers finds this view and not the old one.
	if err := wv.ResetCopier(ctx, publish); err != nil {
		return fmt.Errorf("cowlocal: %s: join the writer: %w", s.id, err)
	}
	return nil
}

// Fence implements raftcluster.Storage. The Guard already refuses; the
// view stays a (fenced) writer until BecomeCopier replaces it.
func (s *Storage) Fence(epoch uint64) {}

// Reset implements raftcluster.Storage: close the engine, drop the overlay
// through the group writer's ResetCopier (or start a fresh copier view
// when there is no writer in the group or the view is not a copier's),
// reopen. The view joins the writer's Direct (again: SetCopiers removed an
// excluded copier's).
func (s *Storage) Reset(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	return s.reopen(ctx, func() error { return s.reset(ctx) })
}

func (s *Storage) reset(ctx context.Context) error {
	wv, local := s.g.writerView(s)
	v := s.View()
	if wv == nil || local == nil || v == nil || v.Role() != cow.RoleCopier {
		return s.freshCopier(ctx)
	}
	// Added before the handshake, the view is preserved for from the
	// point the handshake makes it a prefix of the writer's mutations.
	local.Add(v)
	if err := v.Reset(ctx, wv); err != nil {
		return fmt.Errorf("cowlocal: %s: %w", s.id, err)
	}
	return nil
}

// OverlayBytes implements raftcluster.Storage.
func (s *Storage) OverlayBytes() int64 {
	v := s.copierView()
	if v == nil {
		return 0
	}
	return v.Stats().OverlayBytes
}

// Check verifies the view's invariants and, unless a role change of the
// group is in flight, the member's role: a writer view has a Direct, a
// copier view has none, and the group's writer is a writer.
func (s *Storage) Check() error {
	var err error
	select {
	case s.g.turn <- struct{}{}:
		err = s.checkRole()
		<-s.g.turn
	default:
	}
	if v := s.View(); v != nil {
		err = errors.Join(err, v.Check())
	}
	return err
}

func (s *Storage) checkRole() error {
	s.mu.Lock()
	v, local := s.mu.view, s.mu.local
	s.g.mu.Lock()
	groupWriter := s.g.mu.writer == s
	s.g.mu.Unlock()
	s.mu.Unlock()
	writer := v != nil && v.Role() == cow.RoleWriter
	if writer != (local != nil) || groupWriter && !writer {
		return fmt.Errorf("cowlocal: %s: writer view %v, a Direct %v, the group's writer %v", s.id, writer, local != nil, groupWriter)
	}
	return nil
}
