package raftcluster_test

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_mapErr_leadershipTransfer: Raft refuses an entry while the
// leader hands leadership over (before appending it: not committed); the
// node reports that as not being the leader, which callers retry with the
// next leader, not as a bare error (an HTTP 500 "internal error" for a
// client of the SQL example, and a failed load in its tests under load).
func TestNode_mapErr_leadershipTransfer(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _, _ := newSharedCluster(t, clustertest.Options{Nodes: 1})
		l := c.Leader()
		err := raftcluster.MapErr(l, raft.ErrLeadershipTransferInProgress)
		var nl *raftcluster.NotLeaderError
		if !errors.Is(err, raftcluster.ErrNotLeader) || !errors.As(err, &nl) || errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			t.Fatalf("leadership transfer in progress reported as %v, want not the leader", err)
		}
	})
}
