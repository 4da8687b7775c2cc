package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// InProcess returns a StorageFunc for members that share one process,
// like CowLocal, but one that creates every copier view inside the
// writer's reset handshake and adds it to the writer's stabilizer there.
//
// Why not CowLocal: cowlocal adds a copier to the writer's stabilizer in
// SetCopiers, which runs once per cluster generation, when the writer
// applies the change; a copier whose view is created after that (a
// member that joins, or a deposed writer that reopens as a copier, both
// apply the change later than the leader does) is never added, so the
// writer mutates shared storage under it without preserving anything and
// the copier reads the writer's fresh, even half-written, pages (its
// database showed an applied index it never applied). Here the group
// keeps the writer and every copier view; a copier view is made while
// the writer's mutations are held off (ResetCopier), and joins the
// writer's stabilizer before they resume.
func InProcess(shared vfs.FS, opts cow.Options) StorageFunc {
	g := &procGroup{shared: shared, opts: opts}
	g.mu.members = map[string]*procStorage{}
	return func(id string, eng Engine) (Storage, error) {
		s := &procStorage{g: g, id: id, eng: eng}
		g.mu.Lock()
		g.mu.members[id] = s
		g.mu.Unlock()
		return s, nil
	}
}

// procGroup is the in-process group of views over one shared FS.
//
// Concurrency: mu guards members, writer and local; it is held across
// promotions and copier creations, so that the writer's stabilizer and
// the set of copier views change together.
type procGroup struct {
	shared vfs.FS
	opts   cow.Options

	mu struct {
		sync.Mutex
		members map[string]*procStorage
		writer  *procStorage // member whose view is the current writer view
		local   *cow.Local   // the writer's stabilizer
		inLocal map[*cow.View]bool
	}
}

// procStorage is one member's Storage.
//
// Concurrency: its raftcluster.Storage methods are called from one
// goroutine; FS, View, SetGuard and Check are safe for concurrent use.
type procStorage struct {
	g   *procGroup
	id  string
	eng Engine

	// mu guards the fields in it.
	mu struct {
		sync.Mutex
		view  *cow.View
		guard func(context.Context) error
		open  bool
		gens  map[string]uint64
	}
}

var _ Storage = (*procStorage)(nil)

// Attach implements Storage.
func (s *procStorage) Attach(n *raftcluster.Node) { s.SetGuard(n.Guard()) }

// StabilityAddr implements Storage: the stabilizer is in process.
func (s *procStorage) StabilityAddr() string { return "" }

// Close implements Storage; the engine is closed by the node.
func (s *procStorage) Close() error { return nil }

// SetGuard installs the node's fencing check on the writer view.
func (s *procStorage) SetGuard(g func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.guard = g
	if s.mu.view != nil && s.mu.view.Role() == cow.RoleWriter {
		s.mu.view.SetGuard(g)
	}
}

// View returns the member's current view.
func (s *procStorage) View() *cow.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.view
}

func (s *procStorage) copierView() *cow.View {
	if v := s.View(); v != nil && v.Role() == cow.RoleCopier {
		return v
	}
	return nil
}

// newCopierLocked makes a copier view; with a writer in the group, inside
// its reset handshake, joined to its stabilizer. g.mu is held.
func (g *procGroup) newCopierLocked(ctx context.Context) (*cow.View, error) {
	o := g.opts
	o.Guard, o.Store = nil, nil
	w := g.mu.writer
	var wv *cow.View
	if w != nil {
		wv = w.View()
	}
	if wv == nil || wv.Role() != cow.RoleWriter || g.mu.local == nil {
		return cow.NewCopier(g.shared, o)
	}
	var v *cow.View
	err := wv.ResetCopier(ctx, func() error {
		var err error
		if v, err = cow.NewCopier(g.shared, o); err != nil {
			return err
		}
		g.mu.local.Add(v)
		g.mu.inLocal[v] = true
		return nil
	})
	if err != nil {
		// The writer cannot hand over (fenced, stopped): it cannot mutate
		// either, and the next writer's promotion takes every copier view.
		return cow.NewCopier(g.shared, o)
	}
	return v, nil
}

func (s *procStorage) closeEngine() error {
	s.mu.Lock()
	open := s.mu.open
	s.mu.open = false
	s.mu.Unlock()
	if open {
		if err := s.eng.Close(); err != nil {
			return fmt.Errorf("cluster: %s: close engine: %w", s.id, err)
		}
	}
	return nil
}

func (s *procStorage) openEngine(ctx context.Context, v *cow.View) error {
	s.mu.Lock()
	s.mu.view = v
	s.mu.Unlock()
	if err := s.eng.Open(ctx, v); err != nil {
		return fmt.Errorf("cluster: %s: open engine: %w", s.id, err)
	}
	s.mu.Lock()
	s.mu.open = true
	s.mu.Unlock()
	return nil
}

// BecomeWriter promotes the member's copier view through a stabilizer
// over every other copier view of the group (or opens a writer view).
func (s *procStorage) BecomeWriter(ctx context.Context, epoch uint64) error {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	local := cow.NewLocal()
	in := map[*cow.View]bool{}
	for id, m := range g.mu.members {
		if id == s.id {
			continue
		}
		if v := m.copierView(); v != nil {
			local.Add(v)
			in[v] = true
		}
	}
	s.mu.Lock()
	v, guard := s.mu.view, s.mu.guard
	s.mu.Unlock()
	switch {
	case v == nil:
		o := g.opts
		o.Guard, o.Store = guard, nil
		w, err := cow.NewWriter(g.shared, local, o)
		if err != nil {
			return err
		}
		if err := s.closeEngine(); err != nil {
			return err
		}
		if err := s.openEngine(ctx, w); err != nil {
			return err
		}
	case v.Role() == cow.RoleCopier:
		if err := v.Promote(ctx, local); err != nil {
			return fmt.Errorf("cluster: %s: promote: %w", s.id, err)
		}
		v.SetGuard(guard)
	default:
		v.SetStabilizer(local)
		v.Forget()
	}
	g.mu.writer, g.mu.local, g.mu.inLocal = s, local, in
	s.mu.Lock()
	wv, open := s.mu.view, s.mu.open
	s.mu.Unlock()
	if !open {
		// An earlier open on this view failed (BecomeWriter is called
		// again after an error): the view stays, the engine must open.
		if err := s.openEngine(ctx, wv); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.mu.gens = nil
	s.mu.Unlock()
	return nil
}

// SetCopiers drops the views of members no longer listed from the
// stabilizer, and forgets the stable set when a listed copier's
// generation moved (it reset or rejoined).
func (s *procStorage) SetCopiers(epoch, generation uint64, copiers []raftcluster.Member) {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.writer != s || g.mu.local == nil {
		return
	}
	listed := map[*cow.View]bool{}
	gens := map[string]uint64{}
	for _, c := range copiers {
		gens[c.ID] = c.Generation
		if m := g.mu.members[c.ID]; m != nil {
			if v := m.copierView(); v != nil {
				listed[v] = true
				if !g.mu.inLocal[v] {
					g.mu.local.Add(v)
					g.mu.inLocal[v] = true
				}
			}
		}
	}
	for v := range g.mu.inLocal {
		if !listed[v] {
			g.mu.local.Remove(v)
			delete(g.mu.inLocal, v)
		}
	}
	s.mu.Lock()
	forget := false
	for id, gen := range gens {
		if old, ok := s.mu.gens[id]; !ok || old != gen {
			forget = true
		}
	}
	s.mu.gens = gens
	v := s.mu.view
	s.mu.Unlock()
	if forget && v != nil {
		v.Forget()
	}
}

// BecomeCopier: a member without a copier view (new, or the deposed
// writer) opens its engine on a new one.
func (s *procStorage) BecomeCopier(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	if s.copierView() != nil {
		return nil
	}
	if err := s.closeEngine(); err != nil {
		return err
	}
	g := s.g
	g.mu.Lock()
	if g.mu.writer == s {
		g.mu.writer, g.mu.local, g.mu.inLocal = nil, nil, nil
	}
	v, err := g.newCopierLocked(ctx)
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return s.openEngine(ctx, v)
}

// Fence: the Guard already refuses.
func (s *procStorage) Fence(epoch uint64) {}

// Reset closes the engine, drops the overlay through the writer's
// handshake (the view stays in the writer's stabilizer), and reopens.
func (s *procStorage) Reset(ctx context.Context, epoch uint64, writer raftcluster.Member) error {
	if err := s.closeEngine(); err != nil {
		return err
	}
	g := s.g
	g.mu.Lock()
	v := s.View()
	var err error
	if w := g.mu.writer; v != nil && v.Role() == cow.RoleCopier && w != nil && w != s && g.mu.inLocal[v] {
		if wv := w.View(); wv != nil && wv.Role() == cow.RoleWriter {
			err = v.Reset(ctx, wv)
			g.mu.Unlock()
			if err != nil {
				return fmt.Errorf("cluster: %s: reset: %w", s.id, err)
			}
			return s.openEngine(ctx, v)
		}
	}
	if v != nil && g.mu.inLocal[v] {
		g.mu.local.Remove(v)
		delete(g.mu.inLocal, v)
	}
	nv, err := g.newCopierLocked(ctx)
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return s.openEngine(ctx, nv)
}

// OverlayBytes is the copier overlay's size.
func (s *procStorage) OverlayBytes() int64 {
	if v := s.copierView(); v != nil {
		return v.Stats().OverlayBytes
	}
	return 0
}

// Check verifies the view's invariants.
func (s *procStorage) Check() error {
	if v := s.View(); v != nil {
		return errors.Join(v.Check())
	}
	return nil
}
