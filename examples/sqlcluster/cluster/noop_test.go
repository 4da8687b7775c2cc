package cluster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
)

// TestNode_SetNoopApply: with no-op apply on every member, writes are
// acknowledged through the log and reach no database; turned off, the
// next writes apply again.
func TestNode_SetNoopApply(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(v INTEGER)"))
	for _, n := range c.Nodes() {
		// Caught up: a catch-up (replay from the log on opening) applies
		// entries for real.
		require.Equal(t, int64(0), queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT count(*) FROM t"), n.ID())
		n.SetNoopApply(true)
	}
	// A statement that SQLite would refuse (no such table) is acknowledged:
	// SQLite never sees it, nor its precheck.
	r, err := c.Execute(ctx, req(stmt("INSERT INTO missing VALUES(1)")))
	require.NoError(t, err)
	require.Empty(t, r.Results)
	require.NotZero(t, r.Index)
	r, err = c.Execute(ctx, req(stmt("INSERT INTO t VALUES(1)")))
	require.NoError(t, err)
	require.Empty(t, r.Results)
	l, err := c.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(0), queryInt(t, ctx, l, cluster.LevelLinearizable, "SELECT count(*) FROM t"))

	for _, n := range c.Nodes() {
		// Every member has handed the no-op entries over before the mode
		// changes back.
		require.NoError(t, c.WaitFor(ctx, n.ID()+" applies", func() bool { return n.Stats().AppliedIndex >= r.Index }))
		n.SetNoopApply(false)
	}
	r = mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(rowid, v) VALUES(2, 2)"))
	require.Len(t, r.Results, 1)
	require.Equal(t, int64(1), r.Results[0].RowsAffected)
	for _, n := range c.Nodes() {
		require.Equal(t, int64(1), queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT count(*) FROM t"), n.ID())
	}
}
