package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
)

// Options configures a test cluster.
type Options struct {
	// Nodes is the number of members started by New (n1..nN); n1
	// bootstraps, the others join through the leader.
	Nodes int
	// Disk puts each node's Raft state in its DataDir under t.TempDir()
	// (Configure may set Config.LogStore) instead of memory.
	Disk bool
	// Timeouts overrides the harness's (TestTimeouts).
	Timeouts *raftcluster.Timeouts
	// Storage, if set, returns the Storage for a member.
	Storage func(id string) raftcluster.Storage
	// Configure, if set, edits each member's Config before it starts.
	Configure func(cfg *raftcluster.Config)
	// OnStart, if set, is called with each node right after it starts
	// (also after Restart).
	OnStart func(id string, n *raftcluster.Node)
	// Verbose logs raftcluster and raft at debug level through t.Log.
	Verbose bool
}

// TestTimeouts are LAN timeouts scaled up so that elections stay rare on a
// loaded CI machine with the race detector.
func TestTimeouts() raftcluster.Timeouts {
	return raftcluster.Timeouts{Heartbeat: 300 * time.Millisecond, Election: 300 * time.Millisecond,
		LeaderLease: 150 * time.Millisecond, Commit: 5 * time.Millisecond, WriterLease: 150 * time.Millisecond,
		MaxDrift: 0.05, RPC: time.Second, DefaultOp: 5 * time.Second}
}

// Applied is one application command as a member applied it.
type Applied struct {
	Index uint64
	Cmd   string
}

// Member is one node slot of the cluster: it survives Kill and Restart.
type Member struct {
	ID     string
	Node   *raftcluster.Node // nil while killed
	stores *raftcluster.Stores
	dir    string

	// mu guards applied.
	mu struct {
		sync.Mutex
		applied [][]Applied // one slice per incarnation
	}
}

// Applied returns the commands applied by the current incarnation, in the
// order applied.
func (m *Member) Applied() []Applied {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mu.applied) == 0 {
		return nil
	}
	return slices.Clone(m.mu.applied[len(m.mu.applied)-1])
}

// AllApplied returns the commands applied by every incarnation.
func (m *Member) AllApplied() [][]Applied {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]Applied, len(m.mu.applied))
	for i, a := range m.mu.applied {
		out[i] = slices.Clone(a)
	}
	return out
}

// Cluster is a set of in-process members on one RaftNetwork.
type Cluster struct {
	T       testing.TB
	Net     *RaftNetwork
	opts    Options
	members map[string]*Member
	order   []string
}

// New starts a cluster of opts.Nodes members and waits until every one is
// recorded in the leader's state and a writer has been chosen. Cleanup
// shuts every member down and runs Check on each.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Timeouts == nil {
		tt := TestTimeouts()
		opts.Timeouts = &tt
	}
	c := &Cluster{T: t, Net: NewRaftNetwork(opts.Timeouts.RPC), opts: opts, members: map[string]*Member{}}
	t.Cleanup(c.shutdownAll)
	if opts.Nodes <= 0 {
		return c
	}
	first := c.start("n1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Node.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	c.WaitFor("n1 writer", 10*time.Second, func() bool {
		st := first.Node.State()
		return st.Writer == "n1"
	})
	for i := 2; i <= opts.Nodes; i++ {
		c.Add(fmt.Sprintf("n%d", i))
	}
	return c
}

func (c *Cluster) logger(id string) *slog.Logger {
	if !c.opts.Verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tbWriter{c.T}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("id", id)
}

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// start creates (or restarts) member id.
func (c *Cluster) start(id string) *Member {
	c.T.Helper()
	m := c.members[id]
	if m == nil {
		m = &Member{ID: id}
		if c.opts.Disk {
			m.dir = filepath.Join(c.T.TempDir(), id)
			if err := os.MkdirAll(m.dir, 0o700); err != nil {
				c.T.Fatal(err)
			}
		} else {
			m.stores = NewStores()
		}
		c.members[id] = m
		c.order = append(c.order, id)
	}
	m.mu.Lock()
	m.mu.applied = append(m.mu.applied, nil)
	inc := len(m.mu.applied) - 1
	m.mu.Unlock()
	cfg := raftcluster.Config{
		ID:            id,
		StabilityAddr: "stab-" + id,
		Transport:     c.Net.NewTransport(id),
		DataDir:       m.dir,
		Stores:        m.stores,
		Timeouts:      *c.opts.Timeouts,
		Logger:        c.logger(id),
		Apply: func(index uint64, cmd []byte) []byte {
			m.mu.Lock()
			m.mu.applied[inc] = append(m.mu.applied[inc], Applied{Index: index, Cmd: string(cmd)})
			m.mu.Unlock()
			return append([]byte("ok:"), cmd...)
		},
	}
	if c.opts.Storage != nil {
		cfg.Storage = c.opts.Storage(id)
	}
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	n, err := raftcluster.New(cfg)
	if err != nil {
		c.T.Fatalf("start %s: %v", id, err)
	}
	m.Node = n
	if c.opts.OnStart != nil {
		c.opts.OnStart(id, n)
	}
	return m
}

// Start starts a new member without joining it to the cluster (the test
// joins it, e.g. with RequestJoin).
func (c *Cluster) Start(id string) *Member {
	c.T.Helper()
	if m := c.members[id]; m != nil {
		c.T.Fatalf("start %s: already a member slot", id)
	}
	return c.start(id)
}

// Add starts a new member and joins it through the current leader.
func (c *Cluster) Add(id string) *Member {
	c.T.Helper()
	m := c.start(id)
	l := c.Leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for range 20 {
		if err = m.Node.RequestJoin(ctx, l.RaftAddr()); err == nil {
			break
		}
		l = c.Leader()
	}
	if err != nil {
		c.T.Fatalf("join %s: %v", id, err)
	}
	c.WaitFor(id+" member", 10*time.Second, func() bool {
		_, ok := m.Node.State().Member(id)
		return ok
	})
	return m
}

// Member returns the slot of member id.
func (c *Cluster) Member(id string) *Member { return c.members[id] }

// Node returns member id's running node (nil if killed).
func (c *Cluster) Node(id string) *raftcluster.Node { return c.members[id].Node }

// IDs returns the member IDs in creation order.
func (c *Cluster) IDs() []string { return slices.Clone(c.order) }

// Live returns the running nodes.
func (c *Cluster) Live() []*raftcluster.Node {
	var out []*raftcluster.Node
	for _, id := range c.order {
		if n := c.members[id].Node; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Kill shuts member id down (its stores are kept for Restart). It records
// the node's cluster state checks first.
func (c *Cluster) Kill(id string) {
	c.T.Helper()
	m := c.members[id]
	if m.Node == nil {
		return
	}
	if err := m.Node.Check(); err != nil {
		c.T.Errorf("check %s: %v", id, err)
	}
	if err := m.Node.Shutdown(); err != nil {
		c.T.Logf("shutdown %s: %v", id, err)
	}
	m.Node = nil
}

// Restart starts a killed member again from its stores.
func (c *Cluster) Restart(id string) *raftcluster.Node {
	c.T.Helper()
	if c.members[id].Node != nil {
		c.T.Fatalf("restart %s: still running", id)
	}
	return c.start(id).Node
}

// Pause cuts every link of member id (it keeps running but hears nobody).
func (c *Cluster) Pause(id string) { c.Net.Isolate(id) }

// Partition splits the members into groups (see RaftNetwork.Partition).
func (c *Cluster) Partition(groups ...[]string) { c.Net.Partition(groups...) }

// PartitionDrop splits the members into groups on a network that drops
// packets (see RaftNetwork.PartitionDrop).
func (c *Cluster) PartitionDrop(groups ...[]string) { c.Net.PartitionDrop(groups...) }

// Heal restores every link.
func (c *Cluster) Heal() { c.Net.Heal() }

// WaitFor polls cond every few milliseconds until it holds, failing the
// test with what if it does not within d.
func (c *Cluster) WaitFor(what string, d time.Duration, cond func() bool) {
	c.T.Helper()
	if err := Poll(d, cond); err != nil {
		c.T.Fatalf("waiting for %s: %v", what, err)
	}
}

// Poll polls cond every 5ms until it holds or d passes.
func Poll(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v", d)
		}
		<-tk.C
	}
}

// Leader waits (up to 10s) for exactly one live node to be leader and
// returns it.
func (c *Cluster) Leader() *raftcluster.Node {
	c.T.Helper()
	var l *raftcluster.Node
	c.WaitFor("a leader", 10*time.Second, func() bool {
		l = nil
		for _, n := range c.Live() {
			if n.IsLeader() {
				if l != nil {
					return false
				}
				l = n
			}
		}
		return l != nil
	})
	return l
}

// Writer waits (up to 10s) until the leader's state names a writer that
// has opened its Guard, and returns its ID and epoch.
func (c *Cluster) Writer() (string, uint64) {
	c.T.Helper()
	var id string
	var epoch uint64
	c.WaitFor("a writer", 10*time.Second, func() bool {
		for _, n := range c.Live() {
			if !n.IsLeader() {
				continue
			}
			st := n.State()
			if st.Writer == n.ID() && n.Guard()(context.Background()) == nil {
				id, epoch = st.Writer, st.Epoch
				return true
			}
		}
		return false
	})
	return id, epoch
}

// CheckHistories verifies that every live node's writer history agrees
// with every other's: for each epoch at most one writer, cluster-wide.
func (c *Cluster) CheckHistories() error {
	seen := map[uint64]string{}
	for _, n := range c.Live() {
		st := n.State()
		if err := st.Check(); err != nil {
			return fmt.Errorf("%s: %w", n.ID(), err)
		}
		for _, h := range st.History {
			if w, ok := seen[h.Epoch]; ok && w != h.ID {
				return fmt.Errorf("epoch %d has writers %s and %s (seen on %s)", h.Epoch, w, h.ID, n.ID())
			}
			seen[h.Epoch] = h.ID
		}
	}
	return nil
}

// Rand returns a generator seeded with seed, for randomized schedules.
func Rand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func (c *Cluster) shutdownAll() {
	if err := c.CheckHistories(); err != nil {
		c.T.Errorf("histories: %v", err)
	}
	var wg sync.WaitGroup
	for _, id := range c.order {
		m := c.members[id]
		if m.Node == nil {
			continue
		}
		if err := m.Node.Check(); err != nil {
			c.T.Errorf("check %s: %v", id, err)
		}
		wg.Add(1)
		go func(n *raftcluster.Node) {
			defer wg.Done()
			n.Shutdown()
		}(m.Node)
		m.Node = nil
	}
	wg.Wait()
}
