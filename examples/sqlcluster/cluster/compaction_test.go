package cluster_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/raftcluster"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// entryPad is the payload of one load entry: about 1 KiB in the log.
var entryPad = strings.Repeat("x", 1000)

// loadEntries writes n rows of about 1 KiB, one log entry each, from a
// few concurrent clients.
func loadEntries(t *testing.T, ctx context.Context, c *localcluster.Cluster, table string, n int) {
	t.Helper()
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS "+table+"(id INTEGER PRIMARY KEY, pad TEXT)"))
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				r, err := c.Execute(ctx, req(stmt("INSERT OR REPLACE INTO "+table+" VALUES(?, ?)", i, entryPad)))
				// The insert is idempotent: sent again while its outcome is
				// unknown (leadership lost while it was in flight, which
				// elections under load bring) until the test's deadline.
				for errors.Is(err, raftcluster.ErrOutcomeUnknown) && ctx.Err() == nil {
					r, err = c.Execute(ctx, req(stmt("INSERT OR REPLACE INTO "+table+" VALUES(?, ?)", i, entryPad)))
				}
				if err == nil && r.Results[0].Error != "" {
					err = errors.New(r.Results[0].Error)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// logHeld returns the entries a member's in-memory Raft log holds and
// the bytes of their data.
func logHeld(t *testing.T, c *localcluster.Cluster, id string) (entries, bytes int64, last uint64) {
	t.Helper()
	stores := c.RaftStores(id)
	if stores == nil {
		t.Fatalf("member %s unknown or with its log on disk", id)
	}
	first, err := stores.Log.FirstIndex()
	must(t, err)
	last, err = stores.Log.LastIndex()
	must(t, err)
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := stores.Log.GetLog(i, &l); err != nil {
			continue
		}
		entries++
		bytes += int64(len(l.Data))
	}
	return entries, bytes, last
}

// memberBytes returns the bytes that went through member id's proxy
// (the connections other members opened to it, both directions) since it
// started.
func memberBytes(t *testing.T, c *localcluster.Cluster, id string) int64 {
	t.Helper()
	return c.MemberBytes(id)
}

// waitCompactedPast waits until the leader's log no longer holds index
// idx (its periodic snapshots compacted it away).
func waitCompactedPast(t *testing.T, ctx context.Context, c *localcluster.Cluster, idx uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := c.WaitFor(ctx, "leader compaction", func() bool {
		l, err := c.Leader(ctx)
		return err == nil && firstLogIndex(l.Raft(), 1) > idx+1
	})
	must(t, err)
}

// TestLocal_JoinAfterLoad_defaultSettings: with default settings (no
// snapshot tuning, no manual compaction), a member added after a load
// receives the cluster state and a short tail, not the log: the bytes
// sent to it and the entries its log store holds do not grow with the
// load.
func TestLocal_JoinAfterLoad_defaultSettings(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 90*time.Second)
	const n = 600 // about 600 KiB of log
	loadEntries(t, ctx, c, "big", n)
	nn, err := c.AddNode(ctx)
	must(t, err)
	checkShortTail(t, ctx, c, nn, "join", n, 96<<10, 32<<10)
}

// TestLocal_RestartAfterAbsence_shortTail: a member that missed many
// writes while it was down gets the cluster state and a short tail when it
// restarts, with default settings, and its database is the others'.
func TestLocal_RestartAfterAbsence_shortTail(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess})
	ctx := testCtx(t, 90*time.Second)
	loadEntries(t, ctx, c, "big", 50)
	_, victim := writerAndCopier(t, ctx, c)
	id := victim.ID()
	_, _, last := logHeld(t, c, id)
	must(t, c.Kill(id))
	const n = 600
	loadEntries(t, ctx, c, "big", n)
	waitCompactedPast(t, ctx, c, last)
	// The member gets the leader's latest snapshot and the entries after
	// it: wait until the leader snapshotted all it will (its log grew by
	// less than the snapshot threshold since), as the leader defers
	// snapshots while its database lags, and under load the entries not
	// yet snapshotted were up to 250 KiB. The tail is then under 64
	// entries (under 64 KiB), which with the snapshot and heartbeats is
	// within 160 KiB moved. The member's log keeps, besides the tail,
	// what it held before its absence (the 50 rows, under 50 KiB: Raft
	// compacts a log only past TrailingLogs entries): 128 KiB, not 96
	// (which runs under load came within 2 KiB of).
	waitSnapshotted(t, ctx, c)
	back, err := c.Restart(ctx, id)
	must(t, err)
	checkShortTail(t, ctx, c, back, "restart", n, 160<<10, 128<<10)
}

// waitSnapshotted waits until the leader's latest Raft snapshot is less
// than raftcluster.DefaultSnapshotThreshold entries behind its log (it
// takes no further one until its log grows).
func waitSnapshotted(t *testing.T, ctx context.Context, c *localcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var behind uint64
	err := c.WaitFor(ctx, "leader snapshot", func() bool {
		l, err := c.Leader(ctx)
		if err != nil {
			return false
		}
		stores := c.RaftStores(l.ID())
		if stores == nil {
			t.Fatalf("leader %s unknown or with its log on disk", l.ID())
		}
		snaps, err := stores.Snap.List()
		last, err2 := stores.Log.LastIndex()
		if err != nil || err2 != nil || len(snaps) == 0 {
			return false
		}
		behind = last - snaps[0].Index
		return snaps[0].Index <= last && behind < raftcluster.DefaultSnapshotThreshold
	})
	if err != nil {
		t.Fatalf("%v (the leader's snapshot is %d entries behind its log)", err, behind)
	}
}

// TestLocal_PartitionedCopier_snapshotThenReset: a copier cut off while
// the leader compacts past its log comes back to a Raft snapshot: the
// entries in between never reach its database, which has changes of its
// own, so it must not apply the later entries on top of it. It reopens,
// finds the gap, resets, and ends with the others' database.
func TestLocal_PartitionedCopier_snapshotThenReset(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess})
	ctx := testCtx(t, 90*time.Second)
	const n = 600
	victim := cutPastCompaction(t, ctx, c, n, nil)
	must(t, c.Heal(victim.ID()))
	must(t, c.WaitFor(ctx, "copier caught up", func() bool {
		st := victim.Stats()
		l, err := c.Leader(ctx)
		return err == nil && st.Ready && st.AppliedIndex >= l.Raft().CommitIndex()
	}))
	if got := queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != n {
		t.Errorf("copier sees %d rows, want %d", got, n)
	}
	if got := queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM big WHERE pad = 'after'"); got != 1 {
		t.Errorf("copier misses the last update")
	}
	verifySame(t, ctx, c)
	t.Logf("copier resets: %d", victim.Stats().Resets)
}

// cutPastCompaction loads a few rows, cuts a copier off (before, if not
// nil, runs on it first) while n rows of about 1 KiB are loaded and row 1
// updated to pad 'after', and waits until the leader compacted its log
// past what the copier holds. The copier's database has changes of its
// own (a non-empty overlay). The caller heals the cut (c.Heal).
func cutPastCompaction(t *testing.T, ctx context.Context, c *localcluster.Cluster, n int, before func(*cluster.Node)) (victim *cluster.Node) {
	t.Helper()
	loadEntries(t, ctx, c, "big", 50)
	w, victim := writerAndCopier(t, ctx, c)
	must(t, c.WaitFor(ctx, "copier applied", func() bool {
		return victim.Stats().AppliedIndex >= w.Raft().CommitIndex()
	}))
	if victim.Stats().OverlayBytes == 0 {
		t.Fatal("the copier's database has no changes of its own")
	}
	if before != nil {
		before(victim)
	}
	_, _, last := logHeld(t, c, victim.ID())
	must(t, c.Partition(victim.ID()))
	loadEntries(t, ctx, c, "big", n)
	// A row the copier would lack if it applied what follows the gap.
	mustExec(t, ctx, c, stmt("UPDATE big SET pad = 'after' WHERE id = 1"))
	waitCompactedPast(t, ctx, c, last)
	return victim
}

// verifySame fails unless every member has the same database.
func verifySame(t *testing.T, ctx context.Context, c *localcluster.Cluster) {
	t.Helper()
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// writerAndCopier returns the writer and one copier.
func writerAndCopier(t *testing.T, ctx context.Context, c *localcluster.Cluster) (w, copier *cluster.Node) {
	t.Helper()
	w, err := c.Writer(ctx)
	must(t, err)
	for _, x := range c.Nodes() {
		if x != w {
			copier = x
		}
	}
	return w, copier
}

// checkShortTail fails unless member n, after a join or restart (what)
// behind rows rows of about 1 KiB each, received at most maxMoved bytes
// and holds at most maxLog bytes of log, sees every row, and has the
// others' database.
func checkShortTail(t *testing.T, ctx context.Context, c *localcluster.Cluster, n *cluster.Node, what string, rows int, maxMoved, maxLog int64) {
	t.Helper()
	moved := memberBytes(t, c, n.ID())
	entries, logBytes, _ := logHeld(t, c, n.ID())
	t.Logf("%s behind %d entries (~%d KiB): %d bytes moved; its log: %d entries, %d bytes; resets %d",
		what, rows, rows*len(entryPad)>>10, moved, entries, logBytes, n.Stats().Resets)
	if moved > maxMoved {
		t.Errorf("%s moved %d bytes, bound %d", what, moved, maxMoved)
	}
	if logBytes > maxLog {
		t.Errorf("after the %s the member's log store holds %d bytes, bound %d", what, logBytes, maxLog)
	}
	if got := queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != int64(rows) {
		t.Errorf("after the %s the member sees %d rows, want %d", what, got, rows)
	}
	verifySame(t, ctx, c)
}
