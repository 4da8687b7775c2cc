package raftcluster_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

func TestNode_Join_nonvoterPromoted(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		sub := c.Leader().Subscribe(64)
		defer sub.Unsubscribe()
		m := c.Add("n4")
		// It joined as a non-voter, then was promoted (events in this order).
		var kinds []raftcluster.EventKind
		deadline := time.After(15 * time.Second)
		for !slices.Contains(kinds, raftcluster.EventMemberPromoted) {
			select {
			case ev := <-sub.C():
				if ev.Member.ID == "n4" && !ev.Initial {
					kinds = append(kinds, ev.Kind)
				}
			case <-deadline:
				t.Fatalf("n4 not promoted; events %v", kinds)
			}
		}
		if kinds[0] != raftcluster.EventMemberJoined {
			t.Fatalf("first n4 event %v, want MemberJoined", kinds[0])
		}
		c.WaitFor("n4 voter everywhere", 10*time.Second, func() bool {
			for _, n := range c.Live() {
				mm, ok := n.State().Member("n4")
				if !ok || mm.Suffrage != raftcluster.Voter {
					return false
				}
			}
			return true
		})
		// It applies new commands.
		idx, _, err := c.Leader().Apply(ctxT(t, 5*time.Second), []byte("after-join"))
		if err != nil {
			t.Fatal(err)
		}
		c.WaitFor("n4 applied", 5*time.Second, func() bool { return m.Node.AppliedIndex() >= idx })
		if a := m.Applied(); len(a) == 0 || a[len(a)-1].Cmd != "after-join" {
			t.Fatalf("n4 applied %v", a)
		}
	})
}

func TestNode_Join_maxVoters(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) { cfg.MaxVoters = 3 }})
		allVoters(c, 3)
		c.Add("n4")
		c.WaitFor("n4 reported", 10*time.Second, func() bool {
			m, ok := c.Leader().State().Member("n4")
			return ok && m.ReportedIndex > 0
		})
		// Give the leader several steps to (wrongly) promote.
		l := c.Leader()
		if err := clustertest.Poll(time.Second, func() bool { return votersOf(l) > 3 }); err == nil {
			t.Fatalf("promoted beyond MaxVoters: %d voters", votersOf(l))
		}
	})
}

func TestNode_Leave_clean(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _, _ := newSharedCluster(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		// A follower leaves.
		var f *raftcluster.Node
		for _, n := range c.Live() {
			if !n.IsLeader() {
				f = n
				break
			}
		}
		if err := f.Leave(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("follower leave: %v", err)
		}
		c.Kill(f.ID())
		c.WaitFor("2 members", 5*time.Second, func() bool { return len(c.Leader().State().Members) == 2 })
		// The leader (writer) leaves: the remaining node takes over in a new
		// epoch.
		l := c.Leader()
		_, epoch := c.Writer()
		if err := l.Leave(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("leader leave: %v", err)
		}
		c.Kill(l.ID())
		var rest *raftcluster.Node
		for _, n := range c.Live() {
			rest = n
		}
		c.WaitFor("sole member writes", 10*time.Second, func() bool {
			st := rest.State()
			return len(st.Members) == 1 && st.Writer == rest.ID() && st.Epoch > epoch && rest.Guard()(context.Background()) == nil
		})
	})
}

func TestNode_Exclude_recordedAndRejoin(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _, stores := newSharedCluster(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		l := c.Leader()
		var victim string
		for _, id := range c.IDs() {
			if id != l.ID() {
				victim = id
				break
			}
		}
		if err := l.Exclude(ctxT(t, 5*time.Second), l.ID()); !errors.Is(err, raftcluster.ErrRejected) {
			t.Fatalf("excluding the writer: %v, want ErrRejected", err)
		}
		c.Pause(victim)
		_, epoch := c.Writer()
		if err := l.Exclude(ctxT(t, 5*time.Second), victim); err != nil {
			t.Fatal(err)
		}
		// Every live node agrees whom the writer waits for.
		c.WaitFor("exclusion everywhere", 5*time.Second, func() bool {
			for _, n := range c.Live() {
				if n.ID() == victim {
					continue
				}
				m, _ := n.State().Member(victim)
				if !m.Excluded || m.ExcludedEpoch != epoch {
					return false
				}
			}
			return true
		})
		wst := stores[l.ID()]
		c.WaitFor("writer told", 5*time.Second, func() bool {
			calls := wst.Calls()
			last := ""
			for _, cl := range calls {
				if len(cl) > 7 && cl[:7] == "copiers" {
					last = cl
				}
			}
			return last != "" && !containsWord(last, victim)
		})
		gen := l.State().Generation
		// The victim comes back: it must reset, then rejoin.
		c.Heal()
		c.WaitFor("victim rejoined", 10*time.Second, func() bool {
			m, _ := c.Leader().State().Member(victim)
			return !m.Excluded && m.Generation > gen
		})
		if !slices.ContainsFunc(stores[victim].Calls(), func(s string) bool { return len(s) >= 5 && s[:5] == "reset" }) {
			t.Fatalf("victim rejoined without reset: %v", stores[victim].Calls())
		}
	})
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w && (i+len(w) == len(s) || s[i+len(w)] == ' ' || s[i+len(w)] == ']') {
			return true
		}
	}
	return false
}

func TestNode_ExcludeAfter_automatic(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
			cfg.ExcludeAfter = 600 * time.Millisecond
		}})
		allVoters(c, 3)
		l := c.Leader()
		var victim string
		for _, id := range c.IDs() {
			if id != l.ID() {
				victim = id
				break
			}
		}
		c.Kill(victim)
		c.WaitFor("automatic exclusion", 10*time.Second, func() bool {
			m, _ := c.Leader().State().Member(victim)
			return m.Excluded
		})
	})
}

// TestNode_CheckMembership_removedWhileDown: a member removed while it was
// down, restarted from its stores, is contacted by nobody; CheckMembership
// tells it that it is no longer a member, and a member that was not
// removed that it is.
func TestNode_CheckMembership_removedWhileDown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		l := c.Leader()
		var gone, kept string
		for _, id := range c.IDs() {
			switch {
			case id == l.ID():
			case gone == "":
				gone = id
			default:
				kept = id
			}
		}
		c.Kill(gone)
		if err := l.Remove(ctxT(t, 10*time.Second), gone); err != nil {
			t.Fatalf("remove %s: %v", gone, err)
		}
		n := c.Restart(gone)
		if err := n.CheckMembership(ctxT(t, 10*time.Second)); !errors.Is(err, raftcluster.ErrUnknownMember) {
			t.Fatalf("removed %s: CheckMembership = %v, want ErrUnknownMember", gone, err)
		}
		c.Kill(kept)
		k := c.Restart(kept)
		if err := k.CheckMembership(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("member %s: CheckMembership = %v", kept, err)
		}
		if err := l.CheckMembership(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("leader %s: CheckMembership = %v", l.ID(), err)
		}
		c.Kill(gone) // not a member: skip the harness's checks of it
	})
}
