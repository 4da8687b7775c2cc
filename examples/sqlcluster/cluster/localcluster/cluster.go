package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// Options configures an in-process cluster.
type Options struct {
	// Nodes started by Start (default 3): n1 bootstraps, the others
	// join.
	Nodes int
	// Dir holds shared storage (Dir/shared) and each member's Raft log
	// (Dir/raft/ID); "" makes a temporary directory that Close removes.
	Dir string
	// Shared is the shared storage (nil: vfs.OS over Dir/shared). Tests
	// use a vfs.NewMem to keep fsync latency out of their timing.
	Shared vfs.FS
	// MemRaft keeps Raft logs in memory instead of under Dir (tests: no
	// fsync latency in their timing).
	MemRaft bool
	// LogStore picks the Raft log store under Dir (see cluster.Config.LogStore).
	LogStore raftcluster.LogStoreKind
	// JournalMode and Synchronous of the shared database (see cluster.Config).
	JournalMode, Synchronous string
	// Timeouts (zero: raftcluster.LANTimeouts).
	Timeouts raftcluster.Timeouts
	// ResetThreshold, ResetFraction, DurableInterval, SnapshotThreshold
	// and TrailingLogs go to every member's cluster.Config.
	ResetThreshold                  int64
	ResetFraction                   float64
	DurableInterval                 time.Duration
	SnapshotThreshold, TrailingLogs uint64
	// Storage selects the members' storage (default DefaultStorage).
	Storage StorageKind
	// Lease is the stability copier lease (default 2s).
	Lease time.Duration
	// StabilityPort gives each member's stability endpoint (networked
	// storage) a port of its own; by default the member's Raft port
	// carries it (raftcluster.TLSTransport.StabilityListener), as serve
	// does without -stability-addr.
	StabilityPort bool
	// MaxSteps goes to every member's cluster.Config.
	MaxSteps int64
	// CopierMode and RefreshLag go to every member's cluster.Config.
	CopierMode cluster.CopierMode
	RefreshLag time.Duration
	// APIAddrOf goes to every member's cluster.Config (HTTP API base URLs of
	// members, for httpapi forwarding; nil: none).
	APIAddrOf func(id string) string
	// Logger (nil discards).
	Logger *slog.Logger
}

// Cluster is a cluster whose members all run in this process, on loopback
// TCP with mutual TLS (certificates minted in memory), sharing one
// directory as shared storage. Every byte between members goes through a
// counting proxy (TransportBytes). It serves the demo, tests and
// examples.
//
// Concurrency: safe for concurrent use.
type Cluster struct {
	opts    Options
	dir     string
	ownDir  bool
	shared  vfs.FS
	ca      *cluster.CA
	storage cluster.StorageFunc
	bytes   atomic.Int64
	stab    atomic.Int64 // the part of bytes on stability connections

	// mu guards the fields in it.
	mu struct {
		sync.Mutex
		members map[string]*member
		next    int
		// starting holds the transport of the member startMember is
		// starting, for its stability endpoint.
		starting map[string]*raftcluster.TLSTransport
	}
}

type member struct {
	node   *cluster.Node
	proxy  *countingProxy
	stores *raftcluster.Stores // nil: on disk
	dead   bool
}

// Start starts opts.Nodes members and waits until one is the writer.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeouts == (raftcluster.Timeouts{}) {
		opts.Timeouts = raftcluster.LANTimeouts()
	}
	c := &Cluster{opts: opts, dir: opts.Dir}
	c.mu.members = map[string]*member{}
	c.mu.starting = map[string]*raftcluster.TLSTransport{}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "holeycow-sqlcluster-")
		if err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "shared"), 0o755); err != nil {
		c.cleanup()
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c.shared = opts.Shared
	if c.shared == nil {
		c.shared = vfs.OS(filepath.Join(c.dir, "shared"))
	}
	ca, err := cluster.NewCA()
	if err != nil {
		c.cleanup()
		return nil, err
	}
	c.ca = ca
	if opts.Storage == StorageDefault {
		c.opts.Storage = DefaultStorage
	}
	switch c.opts.Storage {
	case StorageNetworked:
		no := cluster.NetOptions{Lease: opts.Lease, Bytes: &c.bytes, Logger: opts.Logger}
		if !opts.StabilityPort {
			no.Listen = c.raftPort
		}
		c.storage = cluster.Networked(c.shared, ca, no)
	case StorageInProcess:
		c.storage = InProcess(c.shared, InProcessOptions{Network: stabilitytest.NewNetwork(1), Lease: opts.Lease, Logger: opts.Logger})
	default:
		c.cleanup()
		return nil, fmt.Errorf("localcluster: unknown storage kind %d", int(opts.Storage))
	}
	first, err := c.startMember()
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := first.Bootstrap(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Writer(ctx); err != nil {
		c.Close()
		return nil, err
	}
	for i := 1; i < opts.Nodes; i++ {
		if _, err := c.AddNode(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Dir returns the cluster's directory; SharedDir the shared storage.
func (c *Cluster) Dir() string       { return c.dir }
func (c *Cluster) SharedDir() string { return filepath.Join(c.dir, "shared") }

// startMember starts the next member (not yet part of the cluster).
func (c *Cluster) startMember() (*cluster.Node, error) {
	c.mu.Lock()
	c.mu.next++
	id := fmt.Sprintf("n%d", c.mu.next)
	c.mu.Unlock()
	var stores *raftcluster.Stores
	if c.opts.MemRaft {
		stores = clustertest.NewStores()
	}
	return c.startMemberAs(id, stores, "")
}

// startMemberAs starts member id with its Raft stores (nil: on disk under
// Dir/raft/id), advertising a proxy listening on proxyAddr ("": a free
// port).
func (c *Cluster) startMemberAs(id string, stores *raftcluster.Stores, proxyAddr string) (*cluster.Node, error) {
	conf, err := c.ca.TLSConfig(id)
	if err != nil {
		return nil, err
	}
	proxy, err := newCountingProxyAt(proxyAddr, &c.bytes, &c.stab)
	if err != nil {
		return nil, err
	}
	var tr *raftcluster.TLSTransport
	var bind string
	for range 5 {
		if bind, err = freeLoopbackAddr(); err != nil {
			continue
		}
		if tr, err = raftcluster.NewTLSTransport(bind, proxy.Addr(), conf, c.opts.Timeouts.RPC, c.opts.Logger); err == nil {
			break
		}
	}
	if err != nil {
		proxy.Close()
		return nil, err
	}
	proxy.start(bind)
	c.mu.Lock()
	c.mu.starting[id] = tr
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.mu.starting, id)
		c.mu.Unlock()
	}()
	cfg := cluster.Config{
		ID: id, Transport: tr, Storage: c.storage, Timeouts: c.opts.Timeouts,
		ResetThreshold: c.opts.ResetThreshold, ResetFraction: c.opts.ResetFraction, DurableInterval: c.opts.DurableInterval,
		SnapshotThreshold: c.opts.SnapshotThreshold, TrailingLogs: c.opts.TrailingLogs,
		LeaderReadIndex: c.leaderReadIndex, Logger: c.opts.Logger, MaxSteps: c.opts.MaxSteps,
		JournalMode: c.opts.JournalMode, Synchronous: c.opts.Synchronous,
		APIAddrOf: c.opts.APIAddrOf, CopierMode: c.opts.CopierMode, RefreshLag: c.opts.RefreshLag,
	}
	if stores != nil {
		cfg.Stores = stores
	} else {
		cfg.DataDir = filepath.Join(c.dir, "raft", id)
		cfg.LogStore = c.opts.LogStore
	}
	n, err := cluster.New(cfg)
	if err != nil {
		proxy.Close()
		return nil, err
	}
	c.mu.Lock()
	c.mu.members[id] = &member{node: n, proxy: proxy, stores: stores}
	c.mu.Unlock()
	return n, nil
}

// raftPort returns the stability listener of the Raft port of member id,
// which startMember is starting, and its address (through the counting
// proxy, which then counts stability bytes too).
func (c *Cluster) raftPort(id string) (net.Listener, string, error) {
	c.mu.Lock()
	tr := c.mu.starting[id]
	c.mu.Unlock()
	if tr == nil {
		return nil, "", fmt.Errorf("localcluster: member %s is not starting", id)
	}
	return tr.StabilityListener(), tr.Addr(), nil
}

// leaderReadIndex is every member's Config.LeaderReadIndex: in process,
// the leader is called directly.
func (c *Cluster) leaderReadIndex(ctx context.Context, id string) (uint64, error) {
	n := c.Node(id)
	if n == nil {
		return 0, &raftcluster.NotLeaderError{Op: "read-index"}
	}
	return n.ReadIndex(ctx)
}

// AddNode starts a new member and has it join through the leader. It
// returns once the member's database is open and caught up.
func (c *Cluster) AddNode(ctx context.Context) (*cluster.Node, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	n, err := c.startMember()
	if err != nil {
		return nil, err
	}
	// Joining is idempotent: a leader that changed, or an outcome left
	// unknown by a leadership change (a loaded machine), is settled by
	// asking the leader again.
	err = retryElection(ctx, "join", func() error {
		if leader, err = c.Leader(ctx); err != nil {
			return err
		}
		return n.Join(ctx, leader.Raft().RaftAddr())
	})
	if err != nil {
		return nil, err
	}
	err = c.WaitFor(ctx, "new member ready", func() bool {
		st := n.Stats()
		return st.Ready && n.Raft().CommitIndex() > 0 && st.AppliedIndex >= leader.Raft().CommitIndex()
	})
	return n, err
}

// Node returns the live member id, or nil.
func (c *Cluster) Node(id string) *cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.mu.members[id]; m != nil && !m.dead {
		return m.node
	}
	return nil
}

// Nodes returns the live members, by ID.
func (c *Cluster) Nodes() []*cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*cluster.Node
	for _, m := range c.mu.members {
		if !m.dead {
			out = append(out, m.node)
		}
	}
	sort.Slice(out, func(i, j int) bool { return memberLess(out[i].ID(), out[j].ID()) })
	return out
}

func memberLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// RaftStores returns member id's in-memory Raft stores (Options.MemRaft),
// or nil if its log is on disk or id is unknown.
func (c *Cluster) RaftStores(id string) *raftcluster.Stores {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.mu.members[id]; m != nil {
		return m.stores
	}
	return nil
}

// MemberBytes returns the bytes that went through member id's proxy (the
// connections other members opened to it, both directions) since it
// started; 0 if id is unknown.
func (c *Cluster) MemberBytes(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.mu.members[id]; m != nil {
		return m.proxy.own.Load()
	}
	return 0
}

// Partition cuts every connection other members opened to member id and
// refuses new ones (a network partition of the member, for what others
// send it), until Heal.
func (c *Cluster) Partition(id string) error { return c.setCut(id, true) }

// Heal lets connections to member id through again after Partition.
func (c *Cluster) Heal(id string) error { return c.setCut(id, false) }

func (c *Cluster) setCut(id string, cut bool) error {
	c.mu.Lock()
	m := c.mu.members[id]
	c.mu.Unlock()
	if m == nil {
		return fmt.Errorf("localcluster: no member %q", id)
	}
	m.proxy.setCut(cut)
	return nil
}

// Kill stops member id as a crash would, seen from the cluster: no Leave;
// its connections are cut.
func (c *Cluster) Kill(id string) error {
	c.mu.Lock()
	m := c.mu.members[id]
	if m == nil || m.dead {
		c.mu.Unlock()
		return fmt.Errorf("localcluster: no live member %q", id)
	}
	m.dead = true
	c.mu.Unlock()
	m.proxy.Close()
	return m.node.Close()
}

// Remove has the leader remove a (dead) member from the cluster.
func (c *Cluster) Remove(ctx context.Context, id string) error {
	for {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		err = l.Raft().Remove(ctx, id)
		if !errors.Is(err, raftcluster.ErrNotLeader) {
			return err
		}
	}
}

// WaitFor polls cond (every 2 ms) until it holds or ctx ends.
func (c *Cluster) WaitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("localcluster: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Leader waits for a live member that leads.
func (c *Cluster) Leader(ctx context.Context) (*cluster.Node, error) {
	var l *cluster.Node
	err := c.WaitFor(ctx, "a leader", func() bool {
		for _, n := range c.Nodes() {
			if n.Raft().IsLeader() {
				l = n
				return true
			}
		}
		return false
	})
	return l, err
}

// Writer waits for a live member that leads, is the writer of the newest
// epoch and has its database open.
func (c *Cluster) Writer(ctx context.Context) (*cluster.Node, error) {
	var w *cluster.Node
	err := c.WaitFor(ctx, "a writer", func() bool {
		for _, n := range c.Nodes() {
			if d, ok := n.DurableIndex(); ok && d > 0 && n.Raft().IsLeader() {
				w = n
				return true
			}
		}
		return false
	})
	return w, err
}

// Execute sends req to the leader, following leadership changes, and
// waiting while the leader refuses writes because its apply fails (it
// does not retry a request whose outcome is unknown).
func (c *Cluster) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		l, err := c.Leader(ctx)
		if err != nil {
			return sqlnode.Response{}, err
		}
		r, err := l.Execute(ctx, req)
		switch {
		case errors.Is(err, raftcluster.ErrNotLeader) || errors.Is(err, cluster.ErrClosed):
			continue
		case errors.Is(err, cluster.ErrNotReady): // refused before the log
			select {
			case <-ctx.Done():
				return r, err
			case <-t.C:
			}
			continue
		}
		return r, err
	}
}

// TransportBytes returns the bytes carried between members so far (Raft,
// forwarded requests and, with networked storage, stability; both
// directions).
func (c *Cluster) TransportBytes() int64 { return c.bytes.Load() }

// StabilityBytes returns the part of TransportBytes carried on the
// stability protocol's connections (rounds, heartbeats, resets and joins
// of copiers); the rest is Raft and forwarded requests.
func (c *Cluster) StabilityBytes() int64 { return c.stab.Load() }

// SharedBytes returns the size of the files on shared storage.
func (c *Cluster) SharedBytes() (int64, error) { return vfs.TreeSize(c.shared, ".") }

// Report is the outcome of Verify.
type Report struct {
	// Index is the log index at which the checksums were taken.
	Index uint64
	// Checksums by member ID.
	Checksums map[string]sqlnode.Checksum
	// Diverged lists the members whose checksum differs from the
	// majority's (or that could not compute one).
	Diverged []string
	// Integrity is "ok", or the first failure of PRAGMA integrity_check.
	Integrity string
}

// Verify runs PRAGMA integrity_check on every live member and compares
// their logical checksums at one applied index (a linearizable read index
// taken at the leader; run it when no writes are in flight, or a member
// may already have passed it). A member that is not ready (a copier whose
// lease lapsed, until it resets; a deposed writer, until its role
// settles) is asked again until ctx ends, at most verifyWait.
func (c *Cluster) Verify(ctx context.Context) (Report, error) {
	rep := Report{Checksums: map[string]sqlnode.Checksum{}, Integrity: "ok"}
	l, err := c.Leader(ctx)
	if err != nil {
		return rep, err
	}
	idx, err := l.ReadIndex(ctx)
	if err != nil {
		return rep, err
	}
	rep.Index = idx
	errs := map[string]error{}
	for _, n := range c.Nodes() {
		if rep.Integrity == "ok" {
			var rs []sqlnode.Result
			err := untilReady(ctx, func(ctx context.Context) (err error) {
				rs, err = n.Query(ctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "PRAGMA integrity_check"}})
				return err
			})
			switch {
			case err != nil:
				rep.Integrity = fmt.Sprintf("%s: %v", n.ID(), err)
			case rs[0].Error != "":
				rep.Integrity = fmt.Sprintf("%s: %s", n.ID(), rs[0].Error)
			case len(rs[0].Values) != 1 || rs[0].Values[0][0] != "ok":
				rep.Integrity = fmt.Sprintf("%s: %v", n.ID(), rs[0].Values)
			}
		}
		var sum sqlnode.Checksum
		err := untilReady(ctx, func(ctx context.Context) (err error) {
			sum, err = n.ChecksumAt(ctx, idx)
			return err
		})
		if err != nil {
			errs[n.ID()] = err
			continue
		}
		rep.Checksums[n.ID()] = sum
	}
	rep.Diverged = Diverged(rep.Checksums)
	for id := range errs {
		rep.Diverged = append(rep.Diverged, id)
	}
	slices.SortFunc(rep.Diverged, func(a, b string) int {
		if memberLess(a, b) {
			return -1
		} else if a == b {
			return 0
		}
		return 1
	})
	return rep, errors.Join(mapErrs(errs)...)
}

// verifyWait bounds how long Verify asks a member that is not ready
// again.
const verifyWait = 30 * time.Second

// untilReady runs f until it returns an error that is not ErrNotReady,
// ctx ends, or verifyWait has passed (f gets a context that ends then);
// it returns f's last error.
func untilReady(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		err := f(ctx)
		if !errors.Is(err, cluster.ErrNotReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

func mapErrs(m map[string]error) []error {
	var out []error
	for id, err := range m {
		out = append(out, fmt.Errorf("%s: %w", id, err))
	}
	return out
}

// Diverged returns the IDs whose checksum differs from the most common
// one (ties go to the smallest sum), or whose index differs from the
// others'.
func Diverged(sums map[string]sqlnode.Checksum) []string {
	count := map[sqlnode.Checksum]int{}
	for _, s := range sums {
		count[s]++
	}
	var best sqlnode.Checksum
	bestN := 0
	for s, k := range count {
		if k > bestN || k == bestN && s.String() < best.String() {
			best, bestN = s, k
		}
	}
	var out []string
	for id, s := range sums {
		if s != best {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Close stops every member and removes the directory if Start made
// it.
func (c *Cluster) Close() error {
	c.mu.Lock()
	var ms []*member
	for _, m := range c.mu.members {
		if !m.dead {
			m.dead = true
			ms = append(ms, m)
		}
	}
	c.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.node.Close()
			m.proxy.Close()
			if err != nil && !errors.Is(err, raftcluster.ErrShutdown) {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.cleanup()
	return errors.Join(errs...)
}

func (c *Cluster) cleanup() {
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

// Compact has the writer record how far the shared database is durable,
// then takes a Raft snapshot on the leader (which then compacts its log
// down to TrailingLogs entries; a member that joins later gets the
// snapshot, the cluster state only, and the entries after it) and, where
// the durable index allows, on the other members.
// A writer or leader that changes meanwhile (an election) makes it start
// again with the new one.
func (c *Cluster) Compact(ctx context.Context) error {
	var w *cluster.Node
	err := retryElection(ctx, "compact", func() error {
		var err error
		if w, err = c.Writer(ctx); err != nil {
			return err
		}
		if _, err := w.Checkpoint(ctx); err != nil {
			return err
		}
		return snapshot(ctx, w)
	})
	if err != nil {
		return err
	}
	for _, n := range c.Nodes() {
		if n != w {
			snapshot(ctx, n) // best effort: deferred until the markers allow
		}
	}
	return nil
}

func snapshot(ctx context.Context, n *cluster.Node) error {
	err := n.Raft().Snapshot(ctx)
	if err != nil && strings.Contains(err.Error(), "nothing new to snapshot") {
		return nil
	}
	return err
}

// Check verifies every live member's invariants.
func (c *Cluster) Check() error {
	var errs []error
	for _, n := range c.Nodes() {
		if err := n.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// Storage returns the kind of storage the members use.
func (c *Cluster) Storage() StorageKind { return c.opts.Storage }
