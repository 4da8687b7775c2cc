package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// Options configures a local cluster.
type Options struct {
	// Nodes is the number of members StartLocal starts (n1..nN; default 3).
	Nodes int
	// Shared is the shared storage (default: vfs.NewMem()).
	Shared vfs.FS
	// Timeouts (default raftcluster.LANTimeouts()).
	Timeouts *raftcluster.Timeouts
	// Logger for raftcluster (default: discard).
	Logger *slog.Logger
	// Configure, if set, edits each member's raftcluster.Config before it
	// starts (reset thresholds, report intervals, snapshot tuning). The
	// Config it gets has CompactableIndex set (Engine.CompactableIndex)
	// and ResetThreshold at ResetOnRequest; a ResetThreshold or ResetAt it
	// sets replaces the latter.
	Configure func(cfg *raftcluster.Config)
	// DurableInterval is how often the writer records in the log how far
	// its database is durable (Engine.Checkpoint), which bounds log
	// compaction on every member (default 1s).
	DurableInterval time.Duration
	// Lease is the stability copier lease (default netstorage's, 2s): the
	// writer's mutations wait up to about this long for a killed copier
	// before it is excluded.
	Lease time.Duration
}

// Member is one member of a local cluster.
type Member struct {
	ID      string
	Engine  *Engine
	Storage *netstorage.Storage

	mu   sync.Mutex // guards node
	node *raftcluster.Node

	stop chan struct{} // closed by Kill: ends the durable loop
	done chan struct{} // closed when the durable loop has ended
}

// Node returns the member's running node (nil once killed).
func (m *Member) Node() *raftcluster.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// Cluster is an in-process cluster: members on a clustertest.RaftNetwork,
// each with a Pebble engine on its cow view of one shared FS
// (raftcluster/netstorage, its stability protocol on a
// stabilitytest.Network).
//
// Concurrency: safe for concurrent use.
type Cluster struct {
	opts   Options
	net    *clustertest.RaftNetwork
	snet   *stabilitytest.Network
	shared vfs.FS

	mu      sync.Mutex // guards members, order
	members map[string]*Member
	order   []string
}

// StartLocal starts a cluster and waits until every member has joined and
// n1 is the writer.
func StartLocal(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Shared == nil {
		opts.Shared = vfs.NewMem()
	}
	if opts.Timeouts == nil {
		t := raftcluster.LANTimeouts()
		opts.Timeouts = &t
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DurableInterval <= 0 {
		opts.DurableInterval = time.Second
	}
	c := &Cluster{
		opts:    opts,
		net:     clustertest.NewRaftNetwork(opts.Timeouts.RPC),
		snet:    stabilitytest.NewNetwork(1),
		shared:  opts.Shared,
		members: map[string]*Member{},
	}
	first, err := c.start("n1")
	if err != nil {
		return nil, err
	}
	if err := first.Node().Bootstrap(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("kv: bootstrap: %w", err)
	}
	if err := poll(ctx, func() bool { return first.Node().State().Writer == "n1" && first.Node().Guard()(ctx) == nil }); err != nil {
		c.Close()
		return nil, fmt.Errorf("kv: waiting for n1 to become the writer: %w", err)
	}
	for i := 2; i <= opts.Nodes; i++ {
		if _, err := c.Add(ctx, fmt.Sprintf("n%d", i)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// holdOptions are every member's cow options: zero-copy removes
// (HoldRemoved), so that a table that Pebble's compaction removes while
// a copier may still read it waits in the holding area instead of being
// copied into every copier's overlay; held files are collected once the
// other members have reset in turn.
func holdOptions(nodes int) cow.Options {
	return cow.Options{HoldRemoved: true, HoldResets: max(1, nodes-1)}
}

func (c *Cluster) start(id string) (*Member, error) {
	m := &Member{ID: id, stop: make(chan struct{}), done: make(chan struct{})}
	m.Engine = newEngine(m.Node, id, c.opts.Logger.With("id", id))
	st, err := netstorage.New(netstorage.Config{ID: id, Shared: c.shared, Transport: c.snet.Transport(id),
		View: holdOptions(c.opts.Nodes), Engine: m.Engine, Lease: c.opts.Lease, Logger: c.opts.Logger.With("id", id)})
	if err != nil {
		m.Engine.Shutdown()
		return nil, fmt.Errorf("kv: start %s: %w", id, err)
	}
	m.Storage = st
	addr := stabilityAddr(id)
	c.snet.ListenAt(addr, id, st.Handler())
	cfg := raftcluster.Config{
		ID:               id,
		StabilityAddr:    addr,
		Transport:        c.net.NewTransport(id),
		Stores:           clustertest.NewStores(),
		Timeouts:         *c.opts.Timeouts,
		Logger:           c.opts.Logger.With("id", id),
		ApplyBatch:       m.Engine.ApplyBatch,
		OnRestore:        m.Engine.OnRestore,
		CompactableIndex: m.Engine.CompactableIndex,
		Storage:          NewStorage(m.Storage, m.Engine),
		ResetThreshold:   ResetOnRequest,
	}
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	if cfg.ResetThreshold <= 0 && cfg.ResetAt == nil {
		// Configure turned resets off: a copier that misses compacted
		// entries must still get one.
		cfg.ResetThreshold = ResetOnRequest
	}
	n, err := raftcluster.New(cfg)
	if err != nil {
		c.snet.Unlisten(addr)
		st.Close()
		m.Engine.Shutdown()
		return nil, fmt.Errorf("kv: start %s: %w", id, err)
	}
	st.SetNode(n)
	m.mu.Lock()
	m.node = n
	m.mu.Unlock()
	go m.durableLoop(c.opts.DurableInterval, c.opts.Timeouts.DefaultOp)
	c.mu.Lock()
	c.members[id] = m
	c.order = append(c.order, id)
	c.mu.Unlock()
	return m, nil
}

// durableLoop proposes durable markers while the member is the writer
// (Engine.Checkpoint), every interval, until Kill.
func (m *Member) durableLoop(interval, timeout time.Duration) {
	defer close(m.done)
	base, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	go func() {
		select {
		case <-m.stop:
			stopAll() // Kill does not wait for a marker in flight
		case <-base.Done():
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-base.Done():
			return
		case <-t.C:
		}
		if n := m.Node(); n == nil || !n.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(base, timeout)
		_, _ = m.Engine.Checkpoint(ctx) // not the writer yet, or leadership moving: next tick
		cancel()
	}
}

// stabilityAddr is member id's address on the cluster's stability
// network.
func stabilityAddr(id string) string { return "stab-" + id }

// Add starts member id and joins it through the leader.
func (c *Cluster) Add(ctx context.Context, id string) (*Member, error) {
	m, err := c.start(id)
	if err != nil {
		return nil, err
	}
	err = retry(ctx, func() error {
		l := c.Leader()
		if l == nil {
			return raftcluster.ErrNotLeader
		}
		return m.Node().RequestJoin(ctx, l.RaftAddr())
	})
	if err != nil {
		return nil, fmt.Errorf("kv: join %s: %w", id, err)
	}
	return m, nil
}

// Members returns the members in creation order, killed ones included.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Member, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.members[id])
	}
	return out
}

// Live returns the members that run.
func (c *Cluster) Live() []*Member {
	var out []*Member
	for _, m := range c.Members() {
		if m.Node() != nil {
			out = append(out, m)
		}
	}
	return out
}

// Member returns member id (nil if none).
func (c *Cluster) Member(id string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// Leader returns the live member that leads, or nil.
func (c *Cluster) Leader() *raftcluster.Node {
	for _, m := range c.Live() {
		if n := m.Node(); n != nil && n.IsLeader() {
			return n
		}
	}
	return nil
}

// Writer waits until a live member is the writer with its Guard open and
// returns it (nil if ctx ends first).
func (c *Cluster) Writer(ctx context.Context) *Member {
	var w *Member
	_ = poll(ctx, func() bool {
		for _, m := range c.Live() {
			n := m.Node()
			if n != nil && n.IsLeader() && n.State().Writer == m.ID && n.Guard()(ctx) == nil {
				w = m
				return true
			}
		}
		return false
	})
	return w
}

// Kill stops member id as a crash would, as far as the cluster can tell:
// its engine shuts down (Pebble keeps what it synced), its node shuts down,
// its stability endpoint leaves the network and its Storage closes
// (releasing its view).
func (c *Cluster) Kill(id string) error {
	m := c.Member(id)
	if m == nil || m.Node() == nil {
		return fmt.Errorf("kv: kill %s: not running", id)
	}
	close(m.stop)
	<-m.done
	errs := []error{m.Engine.Shutdown()}
	m.mu.Lock()
	n := m.node
	m.node = nil
	m.mu.Unlock()
	errs = append(errs, n.Shutdown())
	c.snet.Unlisten(stabilityAddr(id))
	errs = append(errs, m.Storage.Close())
	return errors.Join(errs...)
}

// Write applies a batch through the leader, retrying on another leader
// while ctx allows, and returns its log index. An error wrapping
// raftcluster.ErrOutcomeUnknown means the batch may or may not have
// committed.
func (c *Cluster) Write(ctx context.Context, ops ...Op) (uint64, error) {
	cmd, err := Command(ops...)
	if err != nil {
		return 0, err
	}
	var index uint64
	err = retry(ctx, func() error {
		l := c.Leader()
		if l == nil {
			return raftcluster.ErrNotLeader
		}
		i, resp, err := l.Apply(ctx, cmd)
		if err != nil {
			return err
		}
		if len(resp) > 0 {
			return fmt.Errorf("kv: write at %d: %s", i, resp)
		}
		index = i
		return nil
	})
	return index, err
}

// WaitApplied waits until every live member's engine has applied index.
func (c *Cluster) WaitApplied(ctx context.Context, index uint64) error {
	return poll(ctx, func() bool {
		for _, m := range c.Live() {
			if m.Engine.Applied() < index {
				return false
			}
		}
		return true
	})
}

// Shared returns the shared storage.
func (c *Cluster) Shared() vfs.FS { return c.shared }

// Close stops every live member (Kill), which releases the views. Members
// on a writer view go first: their engine's last writes to shared
// storage (Pebble's close) run stability rounds with copiers that are
// still there, not with copiers killed just before.
func (c *Cluster) Close() error {
	live := c.Live()
	slices.SortStableFunc(live, func(a, b *Member) int {
		wa, wb := a.onWriterView(), b.onWriterView()
		switch {
		case wa && !wb:
			return -1
		case wb && !wa:
			return 1
		}
		return 0
	})
	var errs []error
	for _, m := range live {
		errs = append(errs, c.Kill(m.ID))
	}
	return errors.Join(errs...)
}

// onWriterView reports whether the member's view is a writer's.
func (m *Member) onWriterView() bool {
	v := m.Storage.View()
	return v != nil && v.Role() == cow.RoleWriter
}

// retry calls f until it succeeds, fails with an error other than "not
// the leader" (or "no leader yet"), or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || !errors.Is(err, raftcluster.ErrNotLeader) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// poll waits for cond, checking every 5ms, until ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C:
		}
	}
	return nil
}
