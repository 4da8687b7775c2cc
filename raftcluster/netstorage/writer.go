package netstorage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// BecomeWriter implements raftcluster.Storage. It starts a Coordinator for
// epoch, waiting for every member that may hold a copier view (all but the
// previous writer and members added during this term, which are admitted
// when they reset with this writer). Then a copier view is promoted through
// the Coordinator; a copier view that may have missed a round
// (invalidated), or no view at all, is replaced by a writer view opened
// afresh on shared storage, and the engine reopened on it. A writer view
// of the previous epoch (the same leader, re-elected) is kept.
func (s *Storage) BecomeWriter(ctx context.Context, epoch uint64) error {
	if err := s.isClosed(); err != nil {
		return err
	}
	n := s.node.Load()
	if n == nil {
		return fmt.Errorf("%w: %s", ErrNoNode, s.cfg.ID)
	}
	guard := n.Guard()
	st := n.State()
	if st.Epoch != epoch || st.Writer != s.cfg.ID {
		return fmt.Errorf("%w: become writer of epoch %d, state has %s at %d", ErrStateMoved, epoch, st.Writer, st.Epoch)
	}
	coord, err := s.coordinator(epoch, st, guard)
	if err != nil {
		return err
	}
	s.mu.Lock()
	v, resp, vwe := s.mu.view, s.mu.resp, s.mu.viewWriterEpoch
	s.mu.Unlock()
	switch {
	case v != nil && v.Role() == cow.RoleCopier:
		if resp != nil {
			resp.ObserveEpoch(epoch)
		}
		v.SetGuard(guard)
		err := v.Promote(ctx, coord)
		if err == nil {
			s.mu.Lock()
			s.dropCopierLocked()
			s.mu.viewWriterEpoch = epoch
			s.mu.Unlock()
			s.stats.promotions.Add(1)
			s.log.Info("netstorage: copier promoted", "epoch", epoch)
			break
		}
		if !errors.Is(err, cow.ErrInvalidated) {
			return fmt.Errorf("netstorage: %s: promote: %w", s.cfg.ID, err)
		}
		// The copier may have missed a round: its view is not its
		// engine's. Start from shared storage as the old writer left it.
		s.log.Warn("netstorage: copier view invalidated; opening a fresh writer view", "epoch", epoch, "err", err)
		if v, err = s.freshWriter(ctx, coord, guard, epoch); err != nil {
			return err
		}
	case v != nil && v.Role() == cow.RoleWriter && (vwe == epoch || vwe+1 == epoch):
		// Nobody else wrote since this view did: keep it (and the
		// engine's caches).
		v.SetGuard(guard)
		v.SetStabilizer(coord)
		v.Forget()
		s.mu.Lock()
		s.mu.viewWriterEpoch = epoch
		s.mu.Unlock()
	default:
		if v, err = s.freshWriter(ctx, coord, guard, epoch); err != nil {
			return err
		}
	}
	coord.SetWriter(v)
	s.mu.Lock()
	open := s.mu.open
	s.mu.Unlock()
	if !open {
		if err := s.openEngine(ctx, v); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.mu.writerEpoch = epoch
	s.mu.Unlock()
	return nil
}

// freshWriter closes the engine and installs a new writer view on shared
// storage (the engine is opened by the caller).
func (s *Storage) freshWriter(ctx context.Context, coord *stability.Coordinator, guard cow.Guard, epoch uint64) (*cow.View, error) {
	if err := s.closeEngine(); err != nil {
		return nil, err
	}
	o := s.cfg.View
	o.Guard, o.Store = guard, nil
	w, err := cow.NewWriter(s.cfg.Shared, coord, o)
	if err != nil {
		return nil, fmt.Errorf("netstorage: %s: writer view: %w", s.cfg.ID, err)
	}
	s.mu.Lock()
	s.dropCopierLocked()
	old := s.mu.view
	s.mu.view = w
	s.mu.viewWriterEpoch = epoch
	s.mu.Unlock()
	s.release(old)
	s.stats.freshWriters.Add(1)
	return w, nil
}

// coordinator returns the Coordinator of epoch, starting it if needed with
// its initial copier set.
func (s *Storage) coordinator(epoch uint64, st raftcluster.State, guard cow.Guard) (*stability.Coordinator, error) {
	s.mu.Lock()
	if c := s.mu.coord; c != nil && s.mu.coordEpoch == epoch {
		s.mu.Unlock()
		return c, nil
	}
	old := s.mu.coord
	s.dropWriterLocked()
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	var c *stability.Coordinator
	c, err := stability.NewCoordinator(stability.Config{
		ID: s.cfg.ID, Transport: s.cfg.Transport,
		Lease: s.cfg.Lease, Margin: s.cfg.Margin, Heartbeat: s.cfg.Heartbeat,
		RPCTimeout: s.cfg.RPCTimeout, ResetTimeout: s.cfg.ResetTimeout,
		Fence:     func(ctx context.Context) error { return guard(ctx) },
		OnExclude: func(id string, e uint64) { s.onExclude(c, id, e) },
		Logger:    s.cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("netstorage: %s: coordinator: %w", s.cfg.ID, err)
	}
	// The previous writer holds no copier view (it must reopen as a fresh
	// copier and join us), and members added during this term can only
	// have joined us: wait for neither until it resets with us.
	pending := map[string]bool{}
	var termIndex uint64
	for _, h := range st.History {
		switch h.Epoch {
		case epoch - 1:
			if h.ID != s.cfg.ID {
				pending[h.ID] = true
			}
		case epoch:
			termIndex = h.Index
		}
	}
	s.mu.Lock()
	s.mu.coord, s.mu.coordEpoch, s.mu.termIndex, s.mu.pending, s.mu.gen = c, epoch, termIndex, pending, 0
	s.mux.SetCoordinator(c)
	s.mu.Unlock()
	s.membL.Lock()
	err = s.applyCopiers(c, epoch, st, "")
	s.membL.Unlock()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// applyCopiers sets c's copier set from st: every member but this one
// that c already knows (active or excluded) or that may hold a copier view
// (not pending, and added before this term), plus admit. Members that left
// are removed. s.membL must be held.
func (s *Storage) applyCopiers(c *stability.Coordinator, epoch uint64, st raftcluster.State, admit string) error {
	active, excluded := c.Copiers()
	known := map[string]bool{}
	for _, id := range active {
		known[id] = true
	}
	for _, id := range excluded {
		known[id] = true
	}
	s.mu.Lock()
	if s.mu.coord != c {
		s.mu.Unlock()
		return fmt.Errorf("%w: coordinator of epoch %d replaced", ErrStateMoved, epoch)
	}
	pending, termIndex := s.mu.pending, s.mu.termIndex
	if admit != "" {
		delete(pending, admit)
	}
	gen := max(s.mu.gen, st.Generation)
	s.mu.gen = gen
	var peers []stability.Peer
	for _, m := range st.Members {
		if m.ID == s.cfg.ID {
			continue
		}
		if !known[m.ID] && m.ID != admit && (pending[m.ID] || (termIndex != 0 && m.JoinIndex > termIndex)) {
			continue
		}
		peers = append(peers, writerPeer(m))
	}
	s.mu.Unlock()
	if err := c.SetCopiers(epoch, gen, peers); err != nil {
		return fmt.Errorf("netstorage: %s: set copiers: %w", s.cfg.ID, err)
	}
	return nil
}

// SetCopiers implements raftcluster.Storage. The Coordinator's copier set
// is derived from the node's state (see applyCopiers): it keeps waiting for
// members that the state lists as excluded but that it has not excluded
// itself (they may hold a lease from an earlier writer), and stops only
// for members that left. The reset handshake forgets the stable set for
// a copier that resets, so a generation change needs nothing more.
func (s *Storage) SetCopiers(epoch, generation uint64, copiers []raftcluster.Member) {
	n := s.node.Load()
	s.mu.Lock()
	c, ce := s.mu.coord, s.mu.coordEpoch
	s.mu.Unlock()
	if n == nil || c == nil || ce != epoch {
		return
	}
	st := n.State()
	if st.Epoch != epoch {
		return
	}
	s.membL.Lock()
	defer s.membL.Unlock()
	if err := s.applyCopiers(c, epoch, st, ""); err != nil {
		s.log.Warn("netstorage: set copiers", "epoch", epoch, "generation", generation, "err", err)
	}
}

// Fence implements raftcluster.Storage: the Coordinator stops (the node's
// Guard has already closed, so it sends nothing more) and reset handshakes
// are refused. The view stays a fenced writer until BecomeCopier replaces
// it. It does not block.
func (s *Storage) Fence(epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropWriterLocked()
	s.log.Info("netstorage: fenced", "epoch", epoch)
}

// onExclude records, through the node, that the writer's Coordinator c
// excluded copier id in epoch, so that the copier learns it must reset.
// Exclusions of copiers whose reset handshake is in flight are not
// recorded: the reset brings them back.
func (s *Storage) onExclude(c *stability.Coordinator, id string, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || s.mu.coord != c || s.mu.joining[id] > 0 {
		return
	}
	s.stats.excluded.Add(1)
	s.excludeWG.Add(1)
	go s.recordExclusion(c, id, epoch)
}

// maxExcludeAttempts bounds recordExclusion's retries.
const maxExcludeAttempts = 64

func (s *Storage) recordExclusion(c *stability.Coordinator, id string, epoch uint64) {
	defer s.excludeWG.Done()
	wait := max(s.cfg.Lease/8, 10*time.Millisecond)
	for attempt := range maxExcludeAttempts {
		n := s.node.Load()
		s.mu.Lock()
		current := s.mu.coord == c && !s.mu.closed
		s.mu.Unlock()
		if n == nil || !current {
			return
		}
		st := n.State()
		m, ok := st.Member(id)
		if !ok || st.Epoch != epoch || st.Writer != s.cfg.ID || linkActive(c, id) {
			return // gone, deposed, or the copier reset with us since
		}
		var err error
		if m.Excluded {
			// Still excluded from an earlier exclusion whose Rejoin may
			// be on its way: once it lands, the copier (whose view we no
			// longer renew) must be told again.
			err = fmt.Errorf("%s still recorded as excluded", id)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Lease)
			err = n.Exclude(ctx, id)
			cancel()
			if err == nil {
				s.log.Info("netstorage: copier exclusion recorded", "copier", id, "epoch", epoch)
				return
			}
		}
		if attempt%8 == 7 {
			s.log.Warn("netstorage: record exclusion", "copier", id, "epoch", epoch, "attempt", attempt, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
	}
}

func linkActive(c *stability.Coordinator, id string) bool {
	active, _ := c.Copiers()
	for _, a := range active {
		if a == id {
			return true
		}
	}
	return false
}

// admit prepares the writer's Coordinator for a reset handshake from a
// member that it does not know yet (the previous writer, a member added
// during this term, or any member after a leader change): it adds the
// member to the copier set. It does nothing when this member is not the
// writer.
func (s *Storage) admit(from string) {
	s.mu.Lock()
	c, epoch := s.mu.coord, s.mu.coordEpoch
	s.mu.Unlock()
	if c == nil {
		return
	}
	active, excluded := c.Copiers()
	for _, id := range append(active, excluded...) {
		if id == from {
			return
		}
	}
	n := s.node.Load()
	if n == nil {
		return
	}
	st := n.State()
	if _, ok := st.Member(from); !ok || st.Epoch != epoch || from == s.cfg.ID {
		return // the Coordinator refuses: not a member
	}
	s.membL.Lock()
	defer s.membL.Unlock()
	if err := s.applyCopiers(c, epoch, st, from); err != nil {
		s.log.Warn("netstorage: admit copier", "copier", from, "err", err)
		return
	}
	s.stats.admitted.Add(1)
}
