package raftcluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// bubble runs f in a testing/synctest bubble: hashicorp/raft on the
// in-memory transport runs on logical time there, so the Raft timeouts
// cost no wall-clock time and schedules are reproducible-ish.
func bubble(t *testing.T, f func(t *testing.T)) { synctest.Test(t, f) }

// seed logs and returns the -seed flag's value (or a time-based one).
func seed(t *testing.T) uint64 { return raftcluster.TestSeed(t) }

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitAllMembers waits until every live node's state lists n members.
func waitAllMembers(c *clustertest.Cluster, n int) {
	c.T.Helper()
	c.WaitFor(fmt.Sprintf("%d members everywhere", n), 10*time.Second, func() bool {
		for _, nd := range c.Live() {
			if len(nd.State().Members) != n {
				return false
			}
		}
		return true
	})
}

func TestNode_Join_threeAndFive(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				c := clustertest.New(t, clustertest.Options{Nodes: size})
				waitAllMembers(c, size)
				// Every member is promoted to voter (MaxVoters 5).
				c.WaitFor("all voters", 15*time.Second, func() bool {
					for _, nd := range c.Live() {
						for _, m := range nd.State().Members {
							if m.Suffrage != raftcluster.Voter {
								return false
							}
						}
					}
					return true
				})
				w, epoch := c.Writer()
				if l := c.Leader(); l.ID() != w {
					t.Fatalf("writer %s is not the leader %s", w, l.ID())
				}
				if epoch == 0 {
					t.Fatal("epoch 0")
				}
			})
		})
	}
}

func TestNode_Apply_logOrderEverywhere(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		waitAllMembers(c, 3)
		ctx := ctxT(t, 20*time.Second)
		var want []clustertest.Applied
		for i := range 30 {
			l := c.Leader()
			cmd := fmt.Sprintf("cmd-%d", i)
			idx, resp, err := l.Apply(ctx, []byte(cmd))
			if err != nil {
				t.Fatalf("apply %d: %v", i, err)
			}
			if string(resp) != "ok:"+cmd {
				t.Fatalf("resp %q", resp)
			}
			// Applied locally before Apply returned.
			if l.AppliedIndex() < idx {
				t.Fatalf("applied index %d < %d after Apply", l.AppliedIndex(), idx)
			}
			want = append(want, clustertest.Applied{Index: idx, Cmd: cmd})
		}
		last := want[len(want)-1].Index
		c.WaitFor("all applied", 10*time.Second, func() bool {
			for _, n := range c.Live() {
				if n.AppliedIndex() < last {
					return false
				}
			}
			return true
		})
		for _, id := range c.IDs() {
			got := c.Member(id).Applied()
			// Members that joined later see only commands after their join;
			// here every command was applied after all joined.
			if len(got) != len(want) {
				t.Fatalf("%s applied %d commands, want %d: %v", id, len(got), len(want), got)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s command %d = %+v, want %+v", id, i, got[i], want[i])
				}
			}
		}
	})
}

func TestNode_Apply_notLeader(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		waitAllMembers(c, 3)
		l := c.Leader()
		for _, n := range c.Live() {
			if n == l {
				continue
			}
			_, _, err := n.Apply(ctxT(t, time.Second), []byte("x"))
			var nl *raftcluster.NotLeaderError
			if !errors.As(err, &nl) || !errors.Is(err, raftcluster.ErrNotLeader) {
				t.Fatalf("follower Apply: %v", err)
			}
			if nl.LeaderAddr != l.RaftAddr() || nl.LeaderID != l.ID() {
				t.Fatalf("NotLeaderError names %s@%s, leader is %s@%s", nl.LeaderID, nl.LeaderAddr, l.ID(), l.RaftAddr())
			}
		}
	})
}

func TestNode_Apply_noQuorumOutcomeUnknown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		waitAllMembers(c, 3)
		c.WaitFor("3 voters", 10*time.Second, func() bool { return votersOf(c.Leader()) == 3 })
		l := c.Leader()
		c.Pause(l.ID())
		const deadline = 400 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		_, _, err := l.Apply(ctx, []byte("lost?"))
		took := time.Since(start)
		if err == nil {
			t.Fatal("Apply without quorum succeeded")
		}
		if !errors.Is(err, raftcluster.ErrOutcomeUnknown) && !errors.Is(err, raftcluster.ErrNotLeader) {
			t.Fatalf("Apply without quorum: %v (want ErrOutcomeUnknown or ErrNotLeader)", err)
		}
		if took > deadline+500*time.Millisecond {
			t.Fatalf("Apply took %v, deadline %v", took, deadline)
		}
		t.Logf("no-quorum Apply: %v after %v", err, took)
		c.Heal()
	})
}

func votersOf(n *raftcluster.Node) int {
	v := 0
	for _, m := range n.State().Members {
		if m.Suffrage == raftcluster.Voter {
			v++
		}
	}
	return v
}
