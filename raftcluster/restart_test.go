package raftcluster_test

import (
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// testRestartWholeCluster kills every member and restarts it from its
// stores: its DataDir (logStore's log, stable store, file snapshots) when disk, else
// the same in-memory stores. Before the kill there is a writer failover
// (so the history has several terms) and Raft snapshots on two members.
// Afterwards every member must have the same writer history up to the old
// epoch, continued by the next epochs; must be handed again exactly the
// application commands after its last snapshot, at the same indices; and
// the cluster must take new commands.
func testRestartWholeCluster(t *testing.T, disk bool, logStore raftcluster.LogStoreKind) {
	// First Config of each member, for its snapshot store.
	cfgs := map[string]raftcluster.Config{}
	// Longer leases than TestTimeouts: a leader that loses its lease
	// mid-Apply (seen in CI under load with fsyncing stores) leaves the
	// command's outcome unknown, and this test needs every outcome.
	to := clustertest.TestTimeouts()
	to.Heartbeat, to.Election, to.LeaderLease, to.WriterLease = 600*time.Millisecond, 600*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	c := clustertest.New(t, clustertest.Options{Nodes: 3, Disk: disk, Timeouts: &to, Configure: func(cfg *raftcluster.Config) {
		cfg.SnapshotThreshold = 16 // with TrailingLogs 4, snapshots compact the log
		cfg.TrailingLogs = 4
		cfg.LogStore = logStore
		if _, ok := cfgs[cfg.ID]; !ok {
			cfgs[cfg.ID] = *cfg
		}
	}})
	allVoters(c, 3)
	ctx := ctxT(t, 30*time.Second)
	// want is every application command with the index Apply returned.
	var want []clustertest.Applied
	apply := func(cmd string) {
		t.Helper()
		idx, resp, err := c.Leader().Apply(ctx, []byte(cmd))
		if err != nil {
			t.Fatalf("apply %s: %v", cmd, err)
		}
		if string(resp) != "ok:"+cmd {
			t.Fatalf("apply %s: response %q", cmd, resp)
		}
		if n := len(want); n > 0 && idx <= want[n-1].Index {
			t.Fatalf("apply %s: index %d after %d", cmd, idx, want[n-1].Index)
		}
		want = append(want, clustertest.Applied{Index: idx, Cmd: cmd})
	}
	// caughtUp waits until every member has applied index.
	caughtUp := func(what string, index uint64) {
		t.Helper()
		c.WaitFor(what, 10*time.Second, func() bool {
			for _, n := range c.Live() {
				if n.State().Index < index {
					return false
				}
			}
			return len(c.Live()) == 3
		})
	}
	var snapshotted []string
	for i := range 40 {
		apply(fmt.Sprintf("a%d", i))
		switch i {
		case 20:
			// A failover in the middle, so that the history has terms.
			w, _ := c.Writer()
			c.Kill(w)
			c.Writer()
			c.Restart(w)
		case 30:
			// Snapshot the leader and one follower; the third member
			// replays its whole log after the restart.
			caughtUp("a30 everywhere", want[i].Index)
			l := c.Leader()
			for _, n := range c.Live() {
				if n == l || !slices.ContainsFunc(snapshotted, func(id string) bool { return id != l.ID() }) {
					if err := n.Snapshot(ctx); err != nil {
						t.Fatalf("snapshot %s: %v", n.ID(), err)
					}
					snapshotted = append(snapshotted, n.ID())
				}
			}
			if len(snapshotted) != 2 {
				t.Fatalf("snapshotted %v, want the leader and a follower", snapshotted)
			}
		}
	}
	preKill := len(want)
	_, epoch := c.Writer()
	caughtUp("all caught up", want[preKill-1].Index)
	before := c.Leader().State()
	if len(before.History) < 2 || before.Epoch != epoch {
		t.Fatalf("before the restart: epoch %d, history %v; want epoch %d after a failover", before.Epoch, before.History, epoch)
	}
	for _, id := range c.IDs() {
		if h := c.Node(id).State().History; !slices.Equal(h, before.History) {
			t.Fatalf("%s history before the restart %v, leader's %v", id, h, before.History)
		}
		// Every incarnation so far applied a subset of want at want's
		// indices, in order, and together they applied all of it.
		seen := map[uint64]bool{}
		for inc, applied := range c.Member(id).AllApplied() {
			if err := appliedSubset(applied, want); err != nil {
				t.Fatalf("%s incarnation %d: %v", id, inc, err)
			}
			for _, a := range applied {
				seen[a.Index] = true
			}
		}
		if len(seen) != preKill {
			t.Fatalf("%s applied %d distinct commands before the kill, want %d", id, len(seen), preKill)
		}
	}

	for _, id := range c.IDs() {
		c.Kill(id)
	}
	// The index of each member's newest snapshot, read from its stores
	// while every member is down.
	snapIndex := map[string]uint64{}
	for _, id := range c.IDs() {
		snapIndex[id] = lastSnapshotIndex(t, cfgs[id])
	}
	t.Logf("snapshot indices at the kill: %v (snapshotted %v); last command at %d", snapIndex, snapshotted, want[preKill-1].Index)
	for _, id := range snapshotted {
		if snapIndex[id] < want[30].Index {
			t.Fatalf("%s snapshot index %d, want >= %d (a30)", id, snapIndex[id], want[30].Index)
		}
	}
	for _, id := range c.IDs() {
		c.Restart(id)
	}
	_, epoch2 := c.Writer()
	if epoch2 <= epoch {
		t.Fatalf("epoch after restart %d, before %d", epoch2, epoch)
	}
	// The cluster still takes commands.
	for i := range 10 {
		apply(fmt.Sprintf("b%d", i))
	}
	caughtUp("all caught up after the restart", want[len(want)-1].Index)

	for _, id := range c.IDs() {
		after := c.Node(id).State()
		// The history up to the old epoch is the same, and continues with
		// the next epochs, after every command of the old ones.
		if len(after.History) <= len(before.History) || !slices.Equal(after.History[:len(before.History)], before.History) {
			t.Fatalf("%s history changed:\nbefore %v\nafter  %v", id, before.History, after.History)
		}
		for i, h := range after.History[len(before.History):] {
			prev := after.History[len(before.History)+i-1]
			if h.Epoch != prev.Epoch+1 || h.Index <= prev.Index || h.Index <= want[preKill-1].Index {
				t.Fatalf("%s history after the restart does not continue the old one: %v", id, after.History)
			}
		}
		if after.Epoch < epoch2 {
			t.Fatalf("%s epoch %d after the restart, writer's %d", id, after.Epoch, epoch2)
		}
		if len(after.Members) != 3 {
			t.Fatalf("%s members after restart: %v", id, after.Members)
		}
		// This incarnation was handed exactly the commands after its
		// snapshot, then the new ones.
		var exp []clustertest.Applied
		for _, a := range want[:preKill] {
			if a.Index > snapIndex[id] {
				exp = append(exp, a)
			}
		}
		exp = append(exp, want[preKill:]...)
		if got := c.Member(id).Applied(); !slices.Equal(got, exp) {
			t.Fatalf("%s (snapshot at %d) applied after the restart:\n%v\nwant\n%v", id, snapIndex[id], got, exp)
		}
	}
	if err := c.CheckHistories(); err != nil {
		t.Fatal(err)
	}
}

// appliedSubset checks that applied is a subsequence of want: each command
// at want's index for it, indices strictly increasing.
func appliedSubset(applied, want []clustertest.Applied) error {
	at := map[uint64]string{}
	for _, w := range want {
		at[w.Index] = w.Cmd
	}
	for i, a := range applied {
		if cmd, ok := at[a.Index]; !ok || cmd != a.Cmd {
			return fmt.Errorf("applied %q at %d, want %q there", a.Cmd, a.Index, cmd)
		}
		if i > 0 && a.Index <= applied[i-1].Index {
			return fmt.Errorf("applied index %d after %d", a.Index, applied[i-1].Index)
		}
	}
	return nil
}

// lastSnapshotIndex returns the index of the newest Raft snapshot in cfg's
// snapshot store (0 if none): its in-memory store, or the file snapshot
// store in its DataDir, read while the member is down.
func lastSnapshotIndex(t *testing.T, cfg raftcluster.Config) uint64 {
	t.Helper()
	var store raft.SnapshotStore
	if cfg.Stores != nil {
		store = cfg.Stores.Snap
	} else {
		fs, err := raft.NewFileSnapshotStore(cfg.DataDir, 2, io.Discard)
		if err != nil {
			t.Fatalf("%s snapshot store: %v", cfg.ID, err)
		}
		store = fs
	}
	metas, err := store.List()
	if err != nil {
		t.Fatalf("%s snapshots: %v", cfg.ID, err)
	}
	if len(metas) == 0 {
		return 0
	}
	return metas[0].Index
}

func TestNode_restartWholeCluster_memStores(t *testing.T) {
	bubble(t, func(t *testing.T) { testRestartWholeCluster(t, false, "") })
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
