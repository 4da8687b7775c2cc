package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
)

// TestLocal_Refresh_becomeCopierBehindCompactedLog: a refresh-mode
// copier's database is a snapshot at its last refresh, and its Raft log
// compacts past it (compaction follows the writer's durable markers). A
// refresh that fails midway (here: its context canceled, as a storage
// call does to the refresh in flight) leaves the engine closed on that
// old view. When the writer then changes, BecomeCopier reopens the
// engine on the view, and the catch-up needs entries the log no longer
// holds: the member must reset through the new writer (not fail
// BecomeCopier on every storage step, never serving again) and then
// serve reads at the cluster's index.
func TestLocal_Refresh_becomeCopierBehindCompactedLog(t *testing.T) {
	opts := refreshOpts("TRUNCATE", "FULL") // rewrites land in place: pre-images in every copier's overlay
	opts.RefreshLag, opts.TrailingLogs, opts.SnapshotThreshold = time.Hour, 4, 8
	// No reset by overlay size: one would heal the victim through the
	// old writer, before the writer changes.
	opts.ResetThreshold, opts.ResetFraction = 1<<40, -1
	c := startTest(t, opts)
	ctx := testCtx(t, 90*time.Second)
	const rows = 16
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER, pad BLOB)"))
	for id := 1; id <= rows; id++ {
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v, pad) VALUES(?, 0, zeroblob(65536))", id))
	}

	// The victim has the larger ID (see the hand-over below).
	old, copiers := copiersOf(t, ctx, c)
	other, victim := copiers[0], copiers[1]
	require.NoError(t, victim.Refresh(ctx))
	at := victim.Stats().DBIndex

	// A refresh whose storage call fails after closing the engine (as
	// one from a writer that just died, or canceled by a storage call,
	// does): its handshake finds no writer.
	err := cluster.ResetStorage(ctx, victim)
	require.Error(t, err, "a reset with no writer")
	require.False(t, victim.Stats().Ready, "the failed refresh left the engine open")

	// The writer rewrites every page of t, in more entries than
	// SnapshotThreshold: pre-images in the victim's overlay.
	for id := 1; id <= rows; id++ {
		mustExec(t, ctx, c, stmt("UPDATE t SET v = 2, pad = zeroblob(65537) WHERE id = ?", id))
	}
	// The victim's own log compacts past its database.
	require.NoError(t, c.WaitFor(ctx, "the victim's log compacted past its database", func() bool {
		if firstLogIndex(victim.Raft(), 1) > at+1 {
			return true
		}
		require.NoError(t, c.Compact(ctx))
		return false
	}))
	first, err := victim.Raft().FirstLogIndex()
	require.NoError(t, err)
	require.Greater(t, first, at+1, "FirstLogIndex")

	// The hand-over picks the live voter with the smallest reported
	// overlay (ties: the smaller ID, the other copier's). The victim's
	// holds the pre-images of the rewrites; the other copier refreshes.
	require.NoError(t, other.Refresh(ctx))
	require.NoError(t, c.WaitFor(ctx, "the other copier preferred", func() bool {
		st := old.Raft().State()
		v, _ := st.Member(victim.ID())
		o, _ := st.Member(other.ID())
		return o.OverlayBytes <= v.OverlayBytes
	}))

	// The writer changes: the victim becomes a copier of the new writer.
	to, err := old.Raft().HandOver(ctx, "test")
	require.NoError(t, err)
	require.Equal(t, other.ID(), to)
	require.NoError(t, c.WaitFor(ctx, "new writer", func() bool {
		nw, err := c.Writer(ctx)
		return err == nil && nw == other
	}))
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	require.NoError(t, c.WaitFor(wctx, "the victim serves again", func() bool { return victim.Stats().Ready }),
		"the victim never reopened (BecomeCopier keeps failing: the log no longer holds what its database misses)")
	require.GreaterOrEqual(t, victim.Stats().Resets, int64(1))

	mustExec(t, ctx, c, stmt("UPDATE t SET v = 3 WHERE id = 1"))
	require.EqualValues(t, rows, queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM t"))
	require.EqualValues(t, 2*rows+1, queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT sum(v) FROM t"))
	nw, err := c.Writer(ctx)
	require.NoError(t, err)
	require.Equal(t, nw.Stats().DBIndex, victim.Stats().DBIndex, "the victim's database is not at the writer's index")
	verifySame(t, ctx, c)
}

// TestNodeStorage_OverlayBytes_getterLeavesResetRequest: OverlayBytes,
// which raftcluster's storage loop calls to report, only reads. A reset
// asked for on a member that is the writer (RequestReset racing its
// promotion) is not reported there, and stays asked for until a role
// change acts on it: when the member becomes a copier on a fresh view,
// the request is dropped, and the fresh copier does not reset for it.
func TestNodeStorage_OverlayBytes_getterLeavesResetRequest(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY)"))
	w, err := c.Writer(ctx)
	require.NoError(t, err)
	ws := (*cluster.NodeStorage)(w)
	require.ErrorIs(t, w.RequestReset(), cluster.ErrNotCopier)

	cluster.ResetReq(w).Store(true) // the request that raced the promotion
	for range 3 {
		require.Less(t, ws.OverlayBytes(), int64(cluster.ResetRequested), "a writer reports a reset request")
		require.True(t, cluster.ResetReq(w).Load(), "OverlayBytes changed the reset request")
	}

	to, err := w.Raft().HandOver(ctx, "test")
	require.NoError(t, err)
	require.NoError(t, c.WaitFor(ctx, "the old writer a ready copier", func() bool {
		nw, err := c.Writer(ctx)
		return err == nil && nw.ID() == to && !cluster.OnWriterView(w) && w.Stats().Ready
	}))
	// The view turns copier inside BecomeCopier, which drops the request
	// just after: let it return.
	cluster.WaitStorage(w)
	require.False(t, cluster.ResetReq(w).Load(), "the request survived the new copier view")
	require.Less(t, ws.OverlayBytes(), int64(cluster.ResetRequested))
	mustExec(t, ctx, c, stmt("INSERT INTO t(id) VALUES(1)"))
	require.EqualValues(t, 1, queryInt(t, ctx, w, cluster.LevelLinearizable, "SELECT count(*) FROM t"))
	require.Zero(t, w.Stats().Resets)
}
