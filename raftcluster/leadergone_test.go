package raftcluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_leaderGone_electsAfterOneHeartbeat kills the leader (its
// transport closes, as a process's port does) three times, on logical
// time, and requires a new leader within Heartbeat + Heartbeat/4 + 200 ms
// of the kill each time. Raft's own timers alone take Heartbeat to about
// 3×Heartbeat to notice, and a campaign refused by a voter that still
// knows the old leader costs an Election timeout (10 s here) more.
// Without the detector (leadergone.go) it fails nearly always.
func TestNode_leaderGone_electsAfterOneHeartbeat(t *testing.T) {
	bubble(t, func(t *testing.T) {
		to := clustertest.TestTimeouts()
		to.Heartbeat, to.Election = time.Second, 10*time.Second
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Timeouts: &to})
		allVoters(c, 3)
		limit := to.Heartbeat + to.Heartbeat/4 + 200*time.Millisecond
		for round := range 3 {
			// An idle cluster: every log as long as the leader's. (A
			// survivor whose log is behind cannot win; then Raft's timers
			// decide, as without the detector.)
			c.WaitFor("logs level", 10*time.Second, func() bool {
				idx := c.Leader().AppliedIndex()
				for _, n := range c.Live() {
					if n.AppliedIndex() != idx || n.CommitIndex() != idx {
						return false
					}
				}
				return true
			})
			old := c.Leader()
			id := old.ID()
			t0 := time.Now()
			c.Kill(id)
			var nl *raftcluster.Node
			c.WaitFor("a new leader", 30*time.Second, func() bool {
				for _, n := range c.Live() {
					if n.IsLeader() {
						nl = n
						return true
					}
				}
				return false
			})
			took := time.Since(t0)
			t.Logf("round %d: killed %s; %s leads after %v", round, id, nl.ID(), took)
			if took > limit {
				t.Fatalf("round %d: a new leader after %v, want <= %v", round, took, limit)
			}
			c.Restart(id)
			allVoters(c, 3)
		}
	})
}
