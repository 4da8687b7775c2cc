package raftcluster_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_Join_snapshotNotWholeLog: a member that joins while the
// leader's log was never compacted (shorter than TrailingLogs) receives
// the snapshot and the entries after it, not the log from index 1 (every
// entry since the cluster began, a few dozen KB in bench figure 6).
func TestNode_Join_snapshotNotWholeLog(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
			cfg.CompactableIndex = func() uint64 { return math.MaxUint64 } // all durable
		}})
		ctx := ctxT(t, 10*time.Second)
		var last uint64
		for i := range 40 {
			idx, _, err := c.Leader().Apply(ctx, []byte(fmt.Sprint("cmd", i)))
			require.NoError(t, err)
			last = idx
		}
		m := c.Add("n4")
		// The leader kept its log for the members that replicate from
		// it (the earlier joins dropped entry 1 alone).
		first, err := c.Leader().FirstLogIndex()
		require.NoError(t, err)
		require.LessOrEqual(t, first, uint64(2))
		c.WaitFor("n4 caught up", 10*time.Second, func() bool { return m.Node.AppliedIndex() >= last })
		err = m.Node.ReadLog(1, func(uint64, []byte) error { return nil })
		require.ErrorIs(t, err, raftcluster.ErrCompacted, "n4 received the log from index 1")
		for _, a := range m.Applied() {
			require.Greater(t, a.Index, last, "n4 applied %q, which the snapshot covers", a.Cmd)
		}
		// It applies new commands.
		idx, _, err := c.Leader().Apply(ctx, []byte("after-join"))
		require.NoError(t, err)
		c.WaitFor("n4 applied", 10*time.Second, func() bool { return m.Node.AppliedIndex() >= idx })
		a := m.Applied()
		require.NotEmpty(t, a)
		require.Equal(t, "after-join", a[len(a)-1].Cmd)
	})
}
