package kv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// startCompactTest starts a cluster with opts, closed (and checked) when
// the test ends, and a context that ends within 90s.
func startCompactTest(t *testing.T, opts Options) (context.Context, *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	c, err := StartLocal(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return ctx, c
}

// compactWriter writes puts from a few clients and remembers what every
// key must hold and the index of each acknowledged write.
//
// Concurrency: put is safe for concurrent use.
type compactWriter struct {
	c *Cluster

	mu      sync.Mutex
	want    map[string]string
	indexes []uint64
	last    uint64
}

func newCompactWriter(c *Cluster) *compactWriter {
	return &compactWriter{c: c, want: map[string]string{}}
}

// put writes n puts of keys prefix0..prefixN from 4 clients. A put sets
// an absolute value and each key has one client, so sending it again
// while its outcome is unknown does what sending it once does.
func (w *compactWriter) put(ctx context.Context, prefix string, n int) error {
	const clients = 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := cl; i < n; i += clients {
				k, v := fmt.Sprintf("%s%05d", prefix, i), fmt.Sprintf("v-%s-%d-%0100d", prefix, i, i)
				idx, err := w.c.Write(ctx, Put([]byte(k), []byte(v)))
				for errors.Is(err, raftcluster.ErrOutcomeUnknown) && ctx.Err() == nil {
					idx, err = w.c.Write(ctx, Put([]byte(k), []byte(v)))
				}
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					return
				}
				w.mu.Lock()
				w.want[k] = v
				w.indexes = append(w.indexes, idx)
				w.last = max(w.last, idx)
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// agree waits until every live member applied the last write and checks
// that each holds exactly what was written, with Pebble's checks passing.
func (w *compactWriter) agree(t *testing.T, ctx context.Context, stage string) {
	t.Helper()
	w.mu.Lock()
	want, last := maps.Clone(w.want), w.last
	w.mu.Unlock()
	RequireAgree(t, ctx, w.c, want, last, stage)
}

// firstLogIndex returns the first index m's Raft log holds.
func firstLogIndex(t *testing.T, m *Member) uint64 {
	t.Helper()
	n := m.Node()
	require.NotNil(t, n, m.ID)
	first, err := n.FirstLogIndex()
	require.NoError(t, err, m.ID)
	return first
}

// TestCluster_compactedCopierResets: a copier is cut off the Raft network
// while many entries commit and the writer's durable markers let every
// member compact its log past the copier's database. Back on the network
// it receives a Raft snapshot past its database: its catch-up cannot
// succeed from its own overlay, so it must ask for a reset (NeedReset)
// and catch up from shared storage. Without the wiring it stays behind
// (its catch-up fails with raftcluster.ErrCompacted at every retry).
func TestCluster_compactedCopierResets(t *testing.T) {
	ctx, c := startCompactTest(t, Options{Nodes: 3, DurableInterval: 20 * time.Millisecond,
		Configure: func(cfg *raftcluster.Config) {
			cfg.SnapshotThreshold = 32
			cfg.SnapshotInterval = 50 * time.Millisecond
			cfg.TrailingLogs = 16
		}})
	w := newCompactWriter(c)
	require.NoError(t, w.put(ctx, "a", 40))
	w.agree(t, ctx, "before the pause")

	writer := c.Writer(ctx)
	require.NotNil(t, writer)
	var p *Member
	for _, m := range c.Live() {
		if m.ID != writer.ID {
			p = m
			break
		}
	}
	resetsBefore := p.Storage.Stats().Resets
	pausedAt := p.Engine.Applied()
	c.net.Isolate(p.ID)
	healed := false
	defer func() {
		if !healed {
			c.net.Heal()
		}
	}()

	// Commit until the leader's log no longer holds what p misses.
	for round := 0; ; round++ {
		require.NoError(t, w.put(ctx, fmt.Sprintf("b%d-", round), 100))
		if l := c.Member(c.Leader().ID()); l != nil && firstLogIndex(t, l) > pausedAt+1 {
			break
		}
		require.Less(t, round, 20, "the leader's log was never compacted past %d", pausedAt)
	}
	require.Equal(t, pausedAt, p.Engine.Applied(), "the cut-off copier applied entries")
	c.net.Heal()
	healed = true

	require.NoError(t, w.put(ctx, "c", 40))
	w.agree(t, ctx, "after the copier came back")
	require.Greater(t, p.Storage.Stats().Resets, resetsBefore, "%s caught up without a reset", p.ID)
	require.False(t, p.Engine.ResetRequested(), "%s still asks for a reset", p.ID)
	t.Logf("%s paused at %d, leader's log from %d, %s reset %d time(s)", p.ID, pausedAt,
		firstLogIndex(t, c.Member(c.Leader().ID())), p.ID, p.Storage.Stats().Resets-resetsBefore)
}

// TestCluster_joinAfterCompaction: with the cluster's default snapshot
// settings (eager, since CompactableIndex is set), the log is compacted
// as the writer's durable markers allow, and a member added after a load
// receives a snapshot and a short tail, never the whole log; it opens the
// shared database and holds the same data. Without the wiring
// (hashicorp/raft's defaults of 8192 entries) nothing is compacted.
func TestCluster_joinAfterCompaction(t *testing.T) {
	ctx, c := startCompactTest(t, Options{Nodes: 3, DurableInterval: 50 * time.Millisecond})
	w := newCompactWriter(c)
	const n = 600
	require.NoError(t, w.put(ctx, "k", n))
	w.agree(t, ctx, "after the load")
	require.NoError(t, poll(ctx, func() bool {
		for _, m := range c.Live() {
			if first, err := m.Node().FirstLogIndex(); err != nil || first <= 1 {
				return false
			}
		}
		return true
	}), "the members' logs were not compacted")

	n4, err := c.Add(ctx, "n4")
	require.NoError(t, err)
	require.NoError(t, w.put(ctx, "after", 8))
	w.agree(t, ctx, "after the join")
	first := firstLogIndex(t, n4)
	held := n4.Node().AppliedIndex() - first + 1
	require.Greater(t, first, uint64(1), "n4 received the whole log")
	require.Less(t, held, uint64(n/2), "n4 holds %d entries of the log", held)
	require.Zero(t, n4.Storage.Stats().Resets, "n4 had to reset")
	t.Logf("n4's log: %d entries from %d (%d writes); its overlay %d B", held, first, n+8, n4.Storage.OverlayBytes())
}

// TestCluster_compactableDurable: while clients write, no member's
// CompactableIndex ever names an index whose command shared storage's
// database might not hold after a power loss: a crash clone of shared
// storage (every unsynced change lost), taken right after the sample,
// holds every acknowledged write up to it.
func TestCluster_compactableDurable(t *testing.T) {
	shared := vfs.NewMem()
	ctx, c := startCompactTest(t, Options{Nodes: 3, Shared: shared, DurableInterval: 10 * time.Millisecond})
	w := newCompactWriter(c)
	require.NoError(t, w.put(ctx, "a", 20))

	type sample struct {
		member          string
		compactable, db uint64
	}
	var samples []sample
	done := make(chan error, 1)
	go func() { done <- w.put(ctx, "b", 400) }()
	var seed int64
	sampleOnce := func() {
		for _, m := range c.Live() {
			ci := m.Engine.CompactableIndex()
			seed++
			clone := shared.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsynced: 0})
			db, err := ReplicaEngine{}.Open(clone)
			require.NoError(t, err)
			applied, err := db.Applied()
			require.NoError(t, err)
			require.NoError(t, db.Close())
			samples = append(samples, sample{m.ID, ci, applied})
		}
	}
	for running := true; running; {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
		}
		sampleOnce()
	}
	w.agree(t, ctx, "after the load")

	moved := map[string]bool{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range samples {
		for _, idx := range w.indexes {
			require.False(t, s.db < idx && idx <= s.compactable,
				"%s: CompactableIndex %d, but the crashed database holds only up to %d, not the write at %d",
				s.member, s.compactable, s.db, idx)
		}
		if s.compactable > 0 {
			moved[s.member] = true
		}
	}
	require.Len(t, moved, 3, "CompactableIndex never moved on some member: %v", moved)
	t.Logf("%d samples", len(samples))
}

// TestCluster_gapCopierPromoted: a copier whose database misses entries
// the compacted log no longer holds (it was cut off while they committed)
// becomes the writer before it could reset. Its view must be dropped
// before promotion (DropGapView): promoting it would make shared storage
// its older database, losing acknowledged writes that no log holds any
// more. The member becomes the writer on shared storage as the old writer
// left it and holds every write.
func TestCluster_gapCopierPromoted(t *testing.T) {
	var blockResets atomic.Bool
	blockResets.Store(true)
	ctx, c := startCompactTest(t, Options{Nodes: 3, DurableInterval: 20 * time.Millisecond,
		Configure: func(cfg *raftcluster.Config) {
			cfg.SnapshotThreshold = 32
			cfg.SnapshotInterval = 50 * time.Millisecond
			cfg.TrailingLogs = 16
			cfg.WriterPreferenceMargin = -1 // leadership goes where HandOver sends it
			cfg.ResetAt = func() int64 {
				if blockResets.Load() {
					return 0 // no reset granted: the gap stays
				}
				return ResetOnRequest
			}
		}})
	w := newCompactWriter(c)
	require.NoError(t, w.put(ctx, "a", 40))
	w.agree(t, ctx, "before the pause")
	writer := c.Writer(ctx)
	require.NotNil(t, writer)
	var copiers []*Member
	for _, m := range c.Live() {
		if m.ID != writer.ID {
			copiers = append(copiers, m)
		}
	}
	p, q := copiers[0], copiers[1]
	pausedAt := p.Engine.Applied()
	c.net.Isolate(p.ID)
	for round := 0; ; round++ {
		require.NoError(t, w.put(ctx, fmt.Sprintf("b%d-", round), 100))
		if firstLogIndex(t, writer) > pausedAt+1 {
			break
		}
		require.Less(t, round, 20, "the writer's log was never compacted past %d", pausedAt)
	}
	c.net.Heal()
	// p receives a snapshot past its database and finds the gap.
	require.NoError(t, poll(ctx, p.Engine.ResetRequested), "%s found no gap", p.ID)
	require.False(t, p.Engine.rep.Ready(), "%s reads from a database with a gap", p.ID)

	// Only the writer and p are left: hand leadership to p.
	require.NoError(t, c.Kill(q.ID))
	require.NoError(t, poll(ctx, func() bool {
		if n := p.Node(); n.IsLeader() && n.State().Writer == p.ID && n.Guard()(ctx) == nil {
			return true
		}
		if n := writer.Node(); n.IsLeader() {
			_, _ = n.HandOver(ctx, "test: promote the gapped copier")
		}
		return false
	}), "%s did not become the writer", p.ID)
	blockResets.Store(false)
	require.NoError(t, w.put(ctx, "c", 20))
	w.agree(t, ctx, "after the promotion")
	require.Zero(t, p.Storage.Stats().Promotions, "%s's gapped copier view was promoted", p.ID)
	require.NotZero(t, p.Storage.Stats().FreshWriters)
}
