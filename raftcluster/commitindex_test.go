package raftcluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_LeaderCommitIndex_coversAcknowledged: on every member, the
// leader's commit index covers every write the leader acknowledged
// before, and a member that waits for it has applied the write; a member
// that knows no leader gets a NotLeaderError.
func TestNode_LeaderCommitIndex_coversAcknowledged(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		ctx := ctxT(t, 10*time.Second)
		l := c.Leader()
		for i := range 3 {
			idx, _, err := l.Apply(ctx, []byte{'a' + byte(i)})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Live() {
				ci, err := n.LeaderCommitIndex(ctx)
				if err != nil {
					t.Fatalf("%s: %v", n.ID(), err)
				}
				if ci < idx {
					t.Fatalf("%s: leader commit index %d below the acknowledged write %d", n.ID(), ci, idx)
				}
				if err := n.WaitApplied(ctx, ci); err != nil {
					t.Fatal(err)
				}
				if a := c.Member(n.ID()).Applied(); len(a) == 0 || a[len(a)-1].Cmd != string(rune('a'+i)) {
					t.Fatalf("%s applied %v after waiting for %d", n.ID(), a, ci)
				}
			}
		}
		// Cut off from everyone, a follower cannot learn the index.
		var f *raftcluster.Node
		for _, n := range c.Live() {
			if n != l {
				f = n
			}
		}
		c.Pause(f.ID())
		short := ctxT(t, 2*time.Second)
		if _, err := f.LeaderCommitIndex(short); err == nil {
			t.Fatal("LeaderCommitIndex succeeded on a paused follower")
		}
		c.Heal()
	})
}
