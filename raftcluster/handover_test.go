package raftcluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_HandOver: the leader hands leadership, and with it the writer
// role, to another live voter, which takes the next epoch; a follower
// cannot hand over, nor can a leader without another live voter.
func TestNode_HandOver(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _, _ := newSharedCluster(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		l := c.Leader()
		w, epoch := c.Writer()
		if w != l.ID() {
			t.Fatalf("writer %s, leader %s", w, l.ID())
		}
		for _, n := range c.Live() {
			if n != l {
				if _, err := n.HandOver(ctxT(t, 5*time.Second), "test"); !errors.Is(err, raftcluster.ErrNotLeader) {
					t.Fatalf("hand-over from a follower: %v", err)
				}
				break
			}
		}
		to, err := l.HandOver(ctxT(t, 10*time.Second), "test")
		if err != nil || to == l.ID() {
			t.Fatalf("hand-over: %q, %v", to, err)
		}
		c.WaitFor("the new writer", 10*time.Second, func() bool {
			w, e := c.Writer()
			return w == to && e > epoch
		})
	})
}

func TestNode_HandOver_noCandidate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _, _ := newSharedCluster(t, clustertest.Options{Nodes: 1})
		l := c.Leader()
		if _, err := l.HandOver(ctxT(t, 5*time.Second), "test"); !errors.Is(err, raftcluster.ErrNoCandidate) {
			t.Fatalf("hand-over with no other voter: %v", err)
		}
	})
}
