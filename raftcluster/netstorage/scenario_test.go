package netstorage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/stability"
)

// gate holds a member's stability rounds (not heartbeats) while armed, and
// reports the first one it holds.
type gate struct {
	stability.Handler
	armed atomic.Bool
	once  sync.Once
	held  chan struct{}
}

func (g *gate) HandlePreserve(ctx context.Context, from string, req *stability.PreserveRequest) *stability.PreserveResponse {
	if g.armed.Load() && len(req.Regions) > 0 {
		g.once.Do(func() { close(g.held) })
		<-ctx.Done()
		return &stability.PreserveResponse{Seq: req.Seq, Code: stability.CodeFailed, Detail: "held"}
	}
	return g.Handler.HandlePreserve(ctx, from, req)
}

// writes applies commands in the background, one every few milliseconds
// (paced, so that a synctest bubble's clock moves), until stopped.
type writes struct {
	stop chan struct{}
	done chan struct{}
	n    atomic.Int64
	err  error
}

func (r *rig) startWrites() *writes {
	w := &writes{stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() {
		defer close(w.done)
		defer cancel()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			// Not r.c.Live(): the Cluster belongs to the test goroutine.
			var l *raftcluster.Node
			r.mu.Lock()
			for _, n := range r.nodes {
				if n.IsLeader() {
					l = n
				}
			}
			r.mu.Unlock()
			if l == nil {
				continue
			}
			_, _, err := l.Apply(ctx, fmt.Appendf(nil, "bg%d", i))
			var nl *raftcluster.NotLeaderError
			switch {
			case err == nil:
				w.n.Add(1)
			case errors.As(err, &nl), errors.Is(err, raftcluster.ErrOutcomeUnknown):
			default:
				w.err = err
				return
			}
		}
	}()
	return w
}

func (w *writes) halt(t testing.TB) int64 {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("background writes: %v", w.err)
	}
	return w.n.Load()
}

// TestStorage_Exclude_copierKilledMidRound kills a copier while it holds a
// stability round: the writer waits out the copier's lease, excludes it,
// records the exclusion in the log (every member sees it), and goes on.
func TestStorage_Exclude_copierKilledMidRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gates := map[string]*gate{}
		var mu sync.Mutex
		r := newRig(t, rigOptions{nodes: 3, seed: 7, wrap: func(id string, h stability.Handler) stability.Handler {
			g := &gate{Handler: h, held: make(chan struct{})}
			mu.Lock()
			gates[id] = g
			mu.Unlock()
			return g
		}})
		r.apply(5)
		r.check("initial")
		w, epoch := r.c.Writer()
		var victim string
		for _, id := range r.c.IDs() {
			if id != w {
				victim = id
			}
		}
		mu.Lock()
		g := gates[victim]
		mu.Unlock()
		g.armed.Store(true)
		// The engine's files were all created by this writer since the
		// copiers joined: stable as a whole, their writes need no round.
		// Forget (what a copier's join or reset does) makes the next
		// write need one.
		r.storage(w).View().Forget()
		bg := r.startWrites()
		select {
		case <-g.held:
		case <-time.After(30 * time.Second):
			t.Fatal("no round reached the copier")
		}
		r.kill(victim)
		r.c.WaitFor("exclusion recorded everywhere", 30*time.Second, func() bool {
			for _, n := range r.c.Live() {
				if m, ok := n.State().Member(victim); !ok || !m.Excluded || m.ExcludedEpoch != epoch {
					return false
				}
			}
			return true
		})
		before := bg.n.Load()
		r.c.WaitFor("writes continue", 30*time.Second, func() bool { return bg.n.Load() >= before+5 })
		bg.halt(t)
		r.check("after exclusion")
		if st := r.storage(w).Stats(); st.Excluded == 0 || st.Stability.Excluded == 0 {
			t.Fatalf("writer stats: %+v", st)
		}
	})
}

// TestStorage_Reset_overlayThreshold lets copiers' overlays pass the reset
// threshold while commands keep flowing: each resets through the writer's
// handshake (its engine reopens on a prefix of the writer's mutations and
// catches up) and rejoins.
func TestStorage_Reset_overlayThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{nodes: 3, seed: 3, configure: func(cfg *raftcluster.Config) {
			cfg.ResetThreshold = 4096
			cfg.ReportInterval = 20 * time.Millisecond
		}})
		r.apply(5)
		r.check("initial")
		sub := r.c.Leader().Subscribe(1024)
		defer sub.Unsubscribe()
		bg := r.startWrites()
		resets := map[string]int{}
		deadline := time.After(2 * time.Minute)
		for len(resets) < 2 {
			select {
			case ev, ok := <-sub.C():
				if !ok {
					t.Fatal("subscription closed")
				}
				if ev.Kind == raftcluster.EventResetDone {
					resets[ev.Member.ID]++
				}
			case <-deadline:
				t.Fatalf("resets: %v after %d writes", resets, bg.n.Load())
			}
		}
		n := bg.halt(t)
		r.check("after resets")
		var storageResets int64
		for _, id := range r.c.IDs() {
			storageResets += r.storage(id).Stats().Resets
		}
		if storageResets < 2 {
			t.Fatalf("storage resets %d", storageResets)
		}
		t.Logf("resets %v during %d writes", resets, n)
	})
}

// TestStorage_BecomeCopier_nodeJoins adds a member to a running cluster:
// it joins the writer as a fresh copier, catches up from the log, and its
// view keeps to its model while the others write on.
func TestStorage_BecomeCopier_nodeJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{nodes: 3, seed: 5})
		r.apply(10)
		r.check("initial")
		bg := r.startWrites()
		r.c.Add("n4")
		r.waitVoters()
		bg.halt(t)
		r.apply(5)
		r.check("after join")
		v := r.storage("n4").View()
		if v.Role() != cow.RoleCopier || v.Stats().OverlayBytes == 0 {
			t.Fatalf("n4: role %v overlay %d", v.Role(), v.Stats().OverlayBytes)
		}
		if st := r.storage("n4").Stats(); st.Joins != 1 {
			t.Fatalf("n4 stats: %+v", st)
		}
	})
}

// TestStorage_Fence_leadershipFlaps partitions the cluster again and again
// (real time: a promotion that waits for an unreachable member holds the
// view's lock, which a synctest bubble cannot wait out), isolating the
// writer (the others elect a new one) or a copier (the writer excludes
// it; after the heal it resets and rejoins). The state never has two
// writers in one epoch, the recorder sees no mutation outside its member's
// epoch, and every member settles within check's deadline after each heal.
func TestStorage_Fence_leadershipFlaps(t *testing.T) {
	for _, seed := range seeds(2) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
			rng := clustertest.Rand(seed)
			r := newRig(t, rigOptions{nodes: 3, seed: seed, lease: time.Second})
			r.apply(5)
			r.check("initial")
			for round := range 4 {
				w, epoch := r.c.Writer()
				var others []string
				for _, id := range r.c.IDs() {
					if id != w {
						others = append(others, id)
					}
				}
				bg := r.startWrites()
				if rng.IntN(3) > 0 {
					// The writer alone: the others elect a new one.
					t.Logf("round %d: isolate writer %s", round, w)
					r.partition([]string{w}, others)
					r.c.WaitFor("a new writer", 20*time.Second, func() bool {
						for _, id := range others {
							n := r.c.Node(id)
							if st := n.State(); n.IsLeader() && st.Writer == id && st.Epoch > epoch && r.storage(id).WriterEpoch() == st.Epoch {
								return true
							}
						}
						return false
					})
				} else {
					// A copier alone: the writer excludes it and goes on.
					victim := others[rng.IntN(len(others))]
					rest := []string{w}
					for _, id := range others {
						if id != victim {
							rest = append(rest, id)
						}
					}
					t.Logf("round %d: isolate copier %s", round, victim)
					r.partition([]string{victim}, rest)
					r.c.WaitFor(victim+" excluded", 20*time.Second, func() bool {
						m, _ := r.c.Node(w).State().Member(victim)
						return m.Excluded
					})
				}
				before := bg.n.Load()
				r.c.WaitFor("writes continue", 20*time.Second, func() bool { return bg.n.Load() >= before+3 })
				t.Logf("round %d: heal", round)
				r.heal()
				bg.halt(t)
				r.apply(3)
				r.check(fmt.Sprint("flap ", round))
			}
			seen := map[uint64]string{}
			for _, n := range r.c.Live() {
				for _, h := range n.State().History {
					if w, ok := seen[h.Epoch]; ok && w != h.ID {
						t.Fatalf("epoch %d has writers %s and %s", h.Epoch, w, h.ID)
					}
					seen[h.Epoch] = h.ID
				}
			}
			t.Logf("%d epochs", len(seen))
		})
	}
}

// TestStorage_grpc runs three members with stability over gRPC and mutual
// TLS on loopback (Raft in memory), writes, fails the writer over, and
// checks every view.
func TestStorage_grpc(t *testing.T) {
	r := newRig(t, rigOptions{nodes: 3, seed: 1, grpc: newGRPCNet(t)})
	r.apply(10)
	r.check("initial")
	w, _ := r.c.Writer()
	r.kill(w)
	nw, _ := r.c.Writer()
	r.apply(10)
	r.check("failover " + w + " -> " + nw)
	r.restart(w)
	r.apply(5)
	r.check("restart " + w)
	if st := r.storage(nw).Stats(); st.Promotions != 1 || st.Stability.Messages == 0 {
		t.Fatalf("new writer stats: %+v", st)
	}
}

// stall blocks one member's FSM at an application command while armed,
// so that its state lags the leader's.
type stall struct {
	mu       sync.Mutex
	id       string        // the member to stall ("": none)
	held     chan struct{} // closed once its FSM is blocked
	released chan struct{} // closed to let it go on
}

func newStall() *stall { return &stall{held: make(chan struct{}), released: make(chan struct{})} }

func (s *stall) arm(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *stall) beforeApply(id string, _ uint64) {
	s.mu.Lock()
	if id != s.id {
		s.mu.Unlock()
		return
	}
	s.id = ""
	s.mu.Unlock()
	close(s.held)
	<-s.released
}

// nextEvent returns the next event that match accepts, failing the test
// after d.
func nextEvent(t *testing.T, sub *raftcluster.Subscription, d time.Duration, what string, match func(raftcluster.Event) bool) raftcluster.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatalf("waiting for %s: subscription closed", what)
			}
			if !ev.Initial && match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

// TestStorage_Rejoin_staleReportRejected replays how a copier's report
// of its reset (Rejoin) could clear a later exclusion that it never
// answered: the copier resets after its first exclusion and reports it,
// but its own state lags (its FSM is stalled here), so it keeps repeating
// the report while the writer excludes it again. Had the repeated report
// cleared the second exclusion, the copier would hold no lease and not
// know it must reset: it would refuse reads for good (this is how the
// copier-flap scenario used to hang). The report names the exclusion it
// answers, so the repeat is rejected and the copier resets again.
func TestStorage_Rejoin_staleReportRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStall()
		r := newRig(t, rigOptions{nodes: 3, seed: 11, beforeApply: st.beforeApply})
		r.apply(5)
		r.check("initial")
		w, _ := r.c.Writer()
		victim := ""
		for _, id := range r.c.IDs() {
			if id != w {
				victim = id
			}
		}
		sub := r.c.Node(w).Subscribe(1024)
		defer sub.Unsubscribe()
		is := func(kind raftcluster.EventKind) func(raftcluster.Event) bool {
			return func(ev raftcluster.Event) bool { return ev.Kind == kind && ev.Member.ID == victim }
		}
		const d = time.Minute

		// First exclusion: the writer's renewals no longer reach the victim.
		r.snet.Partition(w, victim)
		nextEvent(t, sub, d, "first exclusion", is(raftcluster.EventMemberExcluded))
		// From the next command on, the victim's state stands still.
		st.arm(victim)
		r.apply(1)
		select {
		case <-st.held:
		case <-time.After(d):
			t.Fatal("the victim's FSM was not stalled")
		}
		// The victim resets with the writer and reports it; the report
		// lands, but the victim does not see it land.
		r.snet.Heal()
		nextEvent(t, sub, d, "rejoin", is(raftcluster.EventMemberRejoined))
		// Second exclusion; the victim, still seeing its first one,
		// repeats its report. The report names the first exclusion, so
		// the state machine rejects it: the second stays until the victim
		// resets for it.
		r.snet.Partition(w, victim)
		ex := nextEvent(t, sub, d, "second exclusion", is(raftcluster.EventMemberExcluded))
		quiet := time.After(10 * time.Second)
	wait:
		for {
			select {
			case ev, ok := <-sub.C():
				if !ok {
					t.Fatal("subscription closed")
				}
				if is(raftcluster.EventMemberRejoined)(ev) {
					t.Fatalf("exclusion at %d cleared at %d by a rejoin the victim sent for an earlier one", ex.Index, ev.Index)
				}
			case <-quiet:
				break wait
			}
		}
		close(st.released)
		r.c.WaitFor("the victim caught up", d, func() bool {
			synctest.Wait()
			return r.c.Node(victim).AppliedIndex() >= ex.Index
		})
		r.snet.Heal()

		nextEvent(t, sub, d, "rejoin after a reset for the second exclusion", is(raftcluster.EventMemberRejoined))
		r.apply(3)
		r.check("after the stale rejoin")
	})
}
