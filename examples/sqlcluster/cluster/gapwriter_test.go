package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
)

// TestLocal_GappedCopierBecomesWriter: a copier cut off while the leader
// compacts past its log comes back to a Raft snapshot with a gap (its own
// database misses entries the log no longer holds), and becomes the
// writer before it resets. It must not promote its overlay (which would
// turn shared storage back into its older database and lose acknowledged
// writes): it opens a fresh writer view on shared storage as the previous
// writer left it and replays the log from the index stored there. Every
// acknowledged write survives and the members agree.
func TestLocal_GappedCopierBecomesWriter(t *testing.T) {
	storageKinds(t, testGappedCopierBecomesWriter)
}

func testGappedCopierBecomesWriter(t *testing.T, kind localcluster.StorageKind) {
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: kind})
	ctx := testCtx(t, 120*time.Second)
	const n = 600
	// The copier must still have its overlay when it becomes the writer:
	// keep it from asking for the reset that would drop it until it
	// leads (then the request is moot, and must not outlive the
	// promotion).
	victim := cutPastCompaction(t, ctx, c, n, func(v *cluster.Node) {
		release := cluster.HoldApply(v, false)
		cluster.SetNeedReset(v, func() {
			if v.Raft().IsLeader() {
				cluster.ResetReq(v).Store(true)
			}
		})
		release()
	})
	must(t, c.Heal(victim.ID()))
	l, err := c.Leader(ctx)
	must(t, err)
	must(t, c.WaitFor(ctx, "copier's log caught up", func() bool {
		return victim.Raft().AppliedIndex() >= l.Raft().CommitIndex()
	}))
	// Leave the copier the only candidate besides the leader, and have
	// the leader hand leadership to it.
	var other, keep *cluster.Node
	for _, x := range c.Nodes() {
		switch {
		case x == victim:
		case x == l:
			keep = x
		default:
			other = x
		}
	}
	must(t, c.Kill(other.ID()))
	must(t, c.WaitFor(ctx, "leadership handed to the gapped copier", func() bool {
		if victim.Raft().IsLeader() {
			return true
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l, err := c.Leader(hctx)
		if err != nil {
			return false
		}
		if err := l.Raft().Exclude(hctx, other.ID()); err != nil {
			t.Logf("exclude: %v", err)
			return false
		}
		to, err := l.Raft().HandOver(hctx, "test")
		if err != nil {
			t.Logf("hand over: %v", err)
		}
		return to == victim.ID()
	}))
	// The replicated state names the writer before its Storage has
	// finished BecomeWriter: wait for the writer view too.
	must(t, c.WaitFor(ctx, "gapped copier is the writer", func() bool {
		st := victim.Stats()
		return st.Writer && st.Ready && cluster.OnWriterView(victim)
	}))
	if b := (*cluster.NodeStorage)(victim).OverlayBytes(); b != 0 {
		t.Errorf("the new writer reports an overlay of %d bytes", b)
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO big VALUES(?, 'new')", n+1))
	for _, x := range []*cluster.Node{victim, keep} {
		if got := queryInt(t, ctx, x, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != n+1 {
			t.Errorf("%s sees %d rows, want %d", x.ID(), got, n+1)
		}
		if got := queryInt(t, ctx, x, cluster.LevelLinearizable, "SELECT count(*) FROM big WHERE pad = 'after'"); got != 1 {
			t.Errorf("%s misses the last update before the hand-over", x.ID())
		}
	}
	verifySame(t, ctx, c)
}
