package raftcluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// sharedLog stands for shared storage: every member's writer loop appends
// a mutation only after its Guard passes, under one lock, so the log's
// order is the order of the Guard checks. Invariant 7 says epochs in it
// never go down and each epoch has one node.
//
// The lock is a channel, not a sync.Mutex: Guard may run a quorum round
// while it is held, and a goroutine waiting on a channel is durably
// blocked in a synctest bubble (the logical clock can advance), where one
// waiting on a mutex is not.
type sharedLog struct {
	sem  chan struct{} // cap 1; holds muts
	muts []mutation
}

func newSharedLog() *sharedLog { return &sharedLog{sem: make(chan struct{}, 1)} }

func (s *sharedLog) lock()   { s.sem <- struct{}{} }
func (s *sharedLog) unlock() { <-s.sem }

type mutation struct {
	node  string
	epoch uint64
}

// try records a mutation by node in the epoch that guard passed for.
// (The epoch is the Guard's, not the storage's: a storage that has not
// yet heard of its new epoch would mislabel a mutation that its Guard
// passed for the new one.)
func (s *sharedLog) try(node string, guard func(context.Context) (uint64, error)) bool {
	s.lock()
	defer s.unlock()
	epoch, err := guard(context.Background())
	if err != nil {
		return false
	}
	s.muts = append(s.muts, mutation{node, epoch})
	return true
}

func (s *sharedLog) check() error {
	s.lock()
	defer s.unlock()
	owner := map[uint64]string{}
	var last uint64
	for i, m := range s.muts {
		if m.epoch < last {
			return fmt.Errorf("mutation %d by %s in epoch %d after epoch %d", i, m.node, m.epoch, last)
		}
		last = m.epoch
		if o, ok := owner[m.epoch]; ok && o != m.node {
			return fmt.Errorf("epoch %d mutated by %s and %s", m.epoch, o, m.node)
		}
		owner[m.epoch] = m.node
	}
	return nil
}

func (s *sharedLog) epochs() []uint64 {
	s.lock()
	defer s.unlock()
	var out []uint64
	for _, m := range s.muts {
		if len(out) == 0 || out[len(out)-1] != m.epoch {
			out = append(out, m.epoch)
		}
	}
	return out
}

// recStorage is a Storage that records the calls it gets and, once it
// has been a writer, mutates the shared log in a loop through the node's
// Guard. Fence does not stop the loop: like a paused process that has not
// yet heard it was deposed, it relies on the Guard alone.
type recStorage struct {
	id     string
	shared *sharedLog
	node   atomic.Pointer[raftcluster.Node]

	overlay atomic.Int64 // what OverlayBytes reports
	stall   atomic.Bool
	stalled chan struct{} // closed when the stall begins
	unstall chan struct{} // closed by the test to end it

	mu     sync.Mutex
	calls  []string
	epoch  uint64 // writer epoch, 0 = not writer
	stop   chan struct{}
	wg     sync.WaitGroup
	resets int
}

var _ raftcluster.Storage = (*recStorage)(nil)

func (r *recStorage) log(format string, a ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
}

func (r *recStorage) BecomeWriter(ctx context.Context, epoch uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("writer %d", epoch)
	r.epoch = epoch
	if r.stop == nil && r.shared != nil {
		r.stop = make(chan struct{})
		stop := r.stop
		g := func(ctx context.Context) (uint64, error) {
			n := r.node.Load()
			if n == nil {
				return 0, errors.New("not started")
			}
			return raftcluster.GuardedEpoch(ctx, n)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			tk := time.NewTicker(time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				r.mu.Lock()
				e := r.epoch
				r.mu.Unlock()
				if e != 0 {
					r.shared.try(r.id, g)
				}
			}
		}()
	}
	return nil
}

func (r *recStorage) BecomeCopier(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("copier %d of %s", epoch, w.ID)
	return nil
}

func (r *recStorage) SetCopiers(epoch, gen uint64, copiers []raftcluster.Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(copiers))
	for i, c := range copiers {
		ids[i] = c.ID
	}
	r.log("copiers %d/%d %v", epoch, gen, ids)
}

func (r *recStorage) Fence(epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("fence %d", epoch)
}

// close stops the mutation loop.
func (r *recStorage) close() {
	r.mu.Lock()
	stop := r.stop
	r.stop = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		r.wg.Wait()
	}
}

func (r *recStorage) Reset(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("reset %d", epoch)
	r.resets++
	return nil
}

// OverlayBytes stalls, when told to, so that the node's storage loop
// hangs (as in a process pause) and only the Guard's own checks fence the
// writer.
func (r *recStorage) OverlayBytes() int64 {
	if r.stall.CompareAndSwap(true, false) {
		close(r.stalled)
		<-r.unstall
	}
	return r.overlay.Load()
}

func (r *recStorage) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// withShared builds options whose members mutate one shared log.
func withShared(opts clustertest.Options, shared *sharedLog, stores map[string]*recStorage, c **clustertest.Cluster) clustertest.Options {
	var mu sync.Mutex
	opts.Storage = func(id string) raftcluster.Storage {
		mu.Lock()
		defer mu.Unlock()
		if s := stores[id]; s != nil {
			s.close()
		}
		s := &recStorage{id: id, shared: shared}
		stores[id] = s
		return s
	}
	opts.OnStart = func(id string, n *raftcluster.Node) {
		mu.Lock()
		defer mu.Unlock()
		stores[id].node.Store(n)
	}
	return opts
}

func newSharedCluster(t *testing.T, opts clustertest.Options) (*clustertest.Cluster, *sharedLog, map[string]*recStorage) {
	shared := newSharedLog()
	stores := map[string]*recStorage{}
	var c *clustertest.Cluster
	t.Cleanup(func() {
		for _, s := range stores {
			s.close()
		}
		if err := shared.check(); err != nil {
			t.Errorf("shared log: %v", err)
		}
	})
	c = clustertest.New(t, withShared(opts, shared, stores, &c))
	return c, shared, stores
}

func allVoters(c *clustertest.Cluster, n int) {
	c.T.Helper()
	c.WaitFor(fmt.Sprintf("%d voters", n), 15*time.Second, func() bool {
		l := c.Leader()
		return len(l.State().Members) == n && votersOf(l) == n
	})
}

// TestNode_writerFailover_seeds kills or pauses the writer, twice per
// seed, on logical time.
func TestNode_writerFailover_seeds(t *testing.T) {
	base := seed(t)
	for s := range uint64(3) {
		t.Run(fmt.Sprint(base+s), func(t *testing.T) {
			bubble(t, func(t *testing.T) { writerFailover(t, base+s) })
		})
	}
}

// TestNode_writerFailover_realTime is the same on real time, where the
// scheduler (and the race detector) interleave Raft's goroutines for real.
func TestNode_writerFailover_realTime(t *testing.T) { writerFailover(t, seed(t)) }

func writerFailover(t *testing.T, sd uint64) {
	rnd := clustertest.Rand(sd)
	c, shared, _ := newSharedCluster(t, clustertest.Options{Nodes: 3})
	allVoters(c, 3)
	for round := range 2 {
		w, epoch := c.Writer()
		c.WaitFor("writer mutates", 5*time.Second, func() bool {
			e := shared.epochs()
			return len(e) > 0 && e[len(e)-1] == epoch
		})
		if rnd.IntN(2) == 0 {
			t.Logf("round %d: kill writer %s (epoch %d)", round, w, epoch)
			c.Kill(w)
		} else {
			t.Logf("round %d: pause writer %s (epoch %d)", round, w, epoch)
			c.Pause(w)
		}
		var nw string
		var ne uint64
		c.WaitFor("new writer", 10*time.Second, func() bool {
			for _, n := range c.Live() {
				if n.ID() != w && n.IsLeader() {
					st := n.State()
					if st.Writer == n.ID() && st.Epoch > epoch && n.Guard()(context.Background()) == nil {
						nw, ne = st.Writer, st.Epoch
						return true
					}
				}
			}
			return false
		})
		t.Logf("round %d: new writer %s epoch %d", round, nw, ne)
		c.WaitFor("new writer mutates", 5*time.Second, func() bool {
			e := shared.epochs()
			return len(e) > 0 && e[len(e)-1] == ne
		})
		if c.Node(w) == nil {
			c.Restart(w)
		} else {
			c.Heal()
		}
		c.WaitFor("old writer catches up", 10*time.Second, func() bool {
			st := c.Node(w).State()
			return st.Epoch >= ne
		})
		if err := c.CheckHistories(); err != nil {
			t.Fatal(err)
		}
		if err := shared.check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNode_partitionFlaps_oneWriterPerEpoch(t *testing.T) {
	bubble(t, func(t *testing.T) {
		rnd := clustertest.Rand(seed(t))
		c, shared, _ := newSharedCluster(t, clustertest.Options{Nodes: 5})
		allVoters(c, 5)
		ids := c.IDs()
		for round := range 8 {
			perm := rnd.Perm(len(ids))
			k := 1 + rnd.IntN(len(ids)-1)
			var a, b []string
			for i, p := range perm {
				if i < k {
					a = append(a, ids[p])
				} else {
					b = append(b, ids[p])
				}
			}
			if rnd.IntN(2) == 0 {
				// Put the current leader on the minority side, so that
				// leadership (and the writer) must move.
				l := c.Leader().ID()
				small, big := a, b
				if len(a) > len(b) {
					small, big = b, a
				}
				if i := slices.Index(big, l); i >= 0 {
					big[i] = small[0]
					small[0] = l
				}
				a, b = small, big
			}
			t.Logf("round %d: partition %v | %v", round, a, b)
			c.Partition(a, b)
			// Let the partition act for a few heartbeats: wait until the
			// majority side has a writer with an open guard, or a bound.
			maj := a
			if len(b) > len(a) {
				maj = b
			}
			_ = clustertest.Poll(time.Second, func() bool {
				for _, id := range maj {
					n := c.Node(id)
					if n.IsLeader() && n.Guard()(context.Background()) == nil {
						return true
					}
				}
				return false
			})
			if err := shared.check(); err != nil {
				t.Fatal(err)
			}
			c.Heal()
		}
		c.Writer()
		if err := c.CheckHistories(); err != nil {
			t.Fatal(err)
		}
		t.Logf("epochs mutated: %v", shared.epochs())
	})
}

// TestNode_Guard_leaseFencesStalledWriter: the writer's storage loop hangs
// (it will never hear of its deposition), the writer is cut off, and a new
// writer takes over. The old writer's Guard must close on its own (leader
// lease and writer lease) before the new writer mutates.
func TestNode_Guard_leaseFencesStalledWriter(t *testing.T) {
	bubble(t, testNode_Guard_leaseFencesStalledWriterBody)
}

func TestNode_Guard_leaseFencesStalledWriter_realTime(t *testing.T) {
	testNode_Guard_leaseFencesStalledWriterBody(t)
}

func testNode_Guard_leaseFencesStalledWriterBody(t *testing.T) {
	c, shared, stores := newSharedCluster(t, clustertest.Options{Nodes: 3})
	allVoters(c, 3)
	for round := range 3 {
		w, epoch := c.Writer()
		c.WaitFor("writer mutates", 5*time.Second, func() bool {
			e := shared.epochs()
			return len(e) > 0 && e[len(e)-1] == epoch
		})
		st := stores[w]
		st.stalled, st.unstall = make(chan struct{}), make(chan struct{})
		var once sync.Once
		unstall := func() { once.Do(func() { close(st.unstall) }) }
		// Registered after the cluster's cleanup, so it runs before the
		// nodes shut down (a stalled storage loop would block Shutdown).
		t.Cleanup(unstall)
		st.stall.Store(true)
		select {
		case <-st.stalled:
		case <-time.After(5 * time.Second):
			t.Fatal("storage loop did not stall")
		}
		c.Pause(w)
		var ne uint64
		c.WaitFor("new writer mutates", 10*time.Second, func() bool {
			e := shared.epochs()
			if len(e) > 0 && e[len(e)-1] > epoch {
				ne = e[len(e)-1]
				return true
			}
			return false
		})
		// Let the deposed writer's loop keep trying for a while.
		shared.lock()
		n := len(shared.muts)
		shared.unlock()
		_ = clustertest.Poll(300*time.Millisecond, func() bool { return false })
		if err := shared.check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %s epoch %d -> epoch %d (%d mutations)", round, w, epoch, ne, n)
		unstall()
		c.Heal()
	}
}

// TestNode_Guard_fenceDelayRestartedVoter builds the case that election
// timing alone does not cover: the writer A keeps its quorum through B
// only; C is cut off from A and campaigns; B restarts (it knows no
// leader, so it votes at once) and A is isolated. C can win and commit
// its epoch while A's writer lease still runs. Only the new writer's fence
// delay keeps the two apart. A's storage loop is stalled, so only Guard
// protects.
func TestNode_Guard_fenceDelayRestartedVoter(t *testing.T) {
	base := seed(t)
	for i := range uint64(6) {
		t.Run(fmt.Sprint(base+i), func(t *testing.T) {
			bubble(t, func(t *testing.T) { fenceDelayRound(t, base+i) })
		})
	}
}

func fenceDelayRound(t *testing.T, sd uint64) {
	rnd := clustertest.Rand(sd)
	c, shared, stores := newSharedCluster(t, clustertest.Options{Nodes: 3})
	allVoters(c, 3)
	a, epoch := c.Writer()
	c.WaitFor("writer mutates", 5*time.Second, func() bool {
		e := shared.epochs()
		return len(e) > 0 && e[len(e)-1] == epoch
	})
	var b, cc string
	for _, id := range c.IDs() {
		if id != a {
			if b == "" {
				b = id
			} else {
				cc = id
			}
		}
	}
	st := stores[a]
	st.stalled, st.unstall = make(chan struct{}), make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(st.unstall) }) }
	t.Cleanup(unstall)
	st.stall.Store(true)
	<-st.stalled
	c.Net.Cut(a, cc)
	// Let C campaign for a random while (B still follows A and refuses).
	_ = clustertest.Poll(time.Duration(300+rnd.IntN(900))*time.Millisecond, func() bool { return false })
	c.Kill(b)
	c.Net.Isolate(a)
	c.Restart(b)
	c.Net.Cut(a, b)
	c.WaitFor("new writer mutates", 10*time.Second, func() bool {
		e := shared.epochs()
		return len(e) > 0 && e[len(e)-1] > epoch
	})
	_ = clustertest.Poll(300*time.Millisecond, func() bool { return false })
	if err := shared.check(); err != nil {
		t.Fatal(err)
	}
	unstall()
	c.Heal()
}
