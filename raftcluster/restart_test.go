package raftcluster_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// testRestartWholeCluster kills every member and restarts it from its
// stores: BoltDB files in t.TempDir() when disk, else the same in-memory
// stores.
func testRestartWholeCluster(t *testing.T, disk bool) {
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Disk: disk, Configure: func(cfg *raftcluster.Config) {
		cfg.SnapshotThreshold = 16 // force snapshots + compaction on the way
		cfg.TrailingLogs = 4
	}})
	allVoters(c, 3)
	ctx := ctxT(t, 30*time.Second)
	for i := range 40 {
		if _, _, err := c.Leader().Apply(ctx, fmt.Appendf(nil, "a%d", i)); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			// A failover in the middle, so that the history has terms.
			w, _ := c.Writer()
			c.Kill(w)
			c.Writer()
			c.Restart(w)
		}
	}
	l := c.Leader()
	if err := l.Snapshot(ctx); err != nil {
		t.Logf("snapshot: %v", err)
	}
	_, epoch := c.Writer()
	before := l.State()
	c.WaitFor("all caught up", 10*time.Second, func() bool {
		for _, n := range c.Live() {
			if n.State().Epoch != epoch {
				return false
			}
		}
		return true
	})
	for _, id := range c.IDs() {
		c.Kill(id)
	}
	for _, id := range c.IDs() {
		c.Restart(id)
	}
	_, epoch2 := c.Writer()
	if epoch2 <= epoch {
		t.Fatalf("epoch after restart %d, before %d", epoch2, epoch)
	}
	after := c.Leader().State()
	// The history up to the old epoch is the same.
	if len(after.History) < len(before.History) || !slices.Equal(after.History[:len(before.History)], before.History) {
		t.Fatalf("history changed:\nbefore %v\nafter  %v", before.History, after.History)
	}
	if len(after.Members) != 3 {
		t.Fatalf("members after restart: %v", after.Members)
	}
	if err := c.CheckHistories(); err != nil {
		t.Fatal(err)
	}
	// The cluster still takes commands.
	if _, _, err := c.Leader().Apply(ctx, []byte("after-restart")); err != nil {
		t.Fatal(err)
	}
}

func TestNode_restartWholeCluster_memStores(t *testing.T) {
	bubble(t, func(t *testing.T) { testRestartWholeCluster(t, false) })
}

func TestNode_Subscribe_currentStateFirstAndDrops(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		waitAllMembers(c, 3)
		w, epoch := c.Writer()
		n := c.Node("n2")
		c.WaitFor("n2 sees writer", 5*time.Second, func() bool { return n.State().Epoch == epoch })
		// buf 0: the channel holds just the current state. Nobody reads it
		// yet, so later events are dropped and counted, never blocking Raft.
		sub := n.Subscribe(0)
		c.Add("n4")
		c.WaitFor("drops counted", 10*time.Second, func() bool { return sub.Dropped() > 0 })
		var initial []raftcluster.Event
		for len(initial) < 4 {
			select {
			case ev := <-sub.C():
				initial = append(initial, ev)
			case <-time.After(5 * time.Second):
				t.Fatalf("initial events: %v", initial)
			}
		}
		for i, ev := range initial {
			if !ev.Initial {
				t.Fatalf("event %d not Initial: %v", i, ev)
			}
		}
		if initial[3].Kind != raftcluster.EventWriterChanged || initial[3].Member.ID != w || initial[3].Epoch != epoch {
			t.Fatalf("last initial event %v, want WriterChanged %s/%d", initial[3], w, epoch)
		}
		for i, id := range []string{"n1", "n2", "n3"} {
			if initial[i].Kind != raftcluster.EventMemberJoined || initial[i].Member.ID != id {
				t.Fatalf("initial event %d = %v", i, initial[i])
			}
		}
		// A subscriber with room receives them.
		sub2 := n.Subscribe(16)
		sub.Unsubscribe()
		if _, ok := <-sub.C(); ok {
			t.Fatal("channel open after Unsubscribe")
		}
		c.Add("n5")
		for {
			select {
			case ev := <-sub2.C():
				if !ev.Initial && ev.Kind == raftcluster.EventMemberJoined && ev.Member.ID == "n5" {
					if sub2.Dropped() != 0 {
						t.Fatalf("dropped %d with room", sub2.Dropped())
					}
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no MemberJoined for n5")
			}
		}
	})
}
