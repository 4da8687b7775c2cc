package raftcluster_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_deadVoter_staleFailureAcrossTerms reproduces a demotion that
// sticks: the leader's heartbeat to a voter hangs in a network that drops
// packets, the leader loses and regains leadership (two terms) while the
// network heals, and the hung heartbeat of the old term fails only after
// the new term began. hashicorp/raft reports that failure, but the new
// term's heartbeats succeed from the start and report no recovery, so a
// mark set from the failure would never clear: the leader would demote a
// voter it reaches every few milliseconds and never promote it again.
// Reachability follows observed contact instead: the voter is never
// demoted.
func TestNode_deadVoter_staleFailureAcrossTerms(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 5, Configure: func(cfg *raftcluster.Config) {
			cfg.DeadVoterAfter = 2 * time.Second
		}})
		allVoters(c, 5)
		l := c.Leader()
		var victim, pivot *raftcluster.Node
		for _, n := range c.Live() {
			switch {
			case n == l:
			case victim == nil:
				victim = n
			case pivot == nil:
				pivot = n
			}
		}
		sub := l.Subscribe(64)
		defer sub.Unsubscribe()
		var others []string
		for _, id := range c.IDs() {
			if id != victim.ID() {
				others = append(others, id)
			}
		}
		t.Logf("leader %s, victim %s, pivot %s", l.ID(), victim.ID(), pivot.ID())
		c.PartitionDrop([]string{victim.ID()}, others)
		// Logical time: let the leader's next heartbeats to the victim
		// enter the black hole (one every Heartbeat/10 or so); each hangs
		// for the RPC timeout (1s).
		time.Sleep(100 * time.Millisecond)
		if err := raftcluster.TransferLeadership(l, pivot.ID(), pivot.RaftAddr()); err != nil {
			t.Fatalf("transfer to %s: %v", pivot.ID(), err)
		}
		c.WaitFor(pivot.ID()+" leader", 5*time.Second, pivot.IsLeader)
		c.Heal()
		if err := raftcluster.TransferLeadership(pivot, l.ID(), l.RaftAddr()); err != nil {
			t.Fatalf("transfer back to %s: %v", l.ID(), err)
		}
		c.WaitFor(l.ID()+" leader again", 5*time.Second, l.IsLeader)
		// The hung heartbeats of the first term fail within the second
		// (after 1s); DeadVoterAfter is 2s. Watch well beyond both.
		time.Sleep(10 * time.Second)
		for len(sub.C()) > 0 {
			if ev := <-sub.C(); ev.Kind == raftcluster.EventMemberDemoted {
				t.Errorf("reachable voter demoted: %v", ev)
			}
		}
		ld := c.Leader()
		if m, _ := ld.State().Member(victim.ID()); m.Suffrage != raftcluster.Voter || votersOf(ld) != 5 {
			t.Fatalf("%s is %v on leader %s with %d voters, want a voter of 5", victim.ID(), m.Suffrage, ld.ID(), votersOf(ld))
		}
	})
}

// countingHandler counts the records at Warn and above whose message is
// msg.
type countingHandler struct {
	msg string
	mu  *sync.Mutex
	n   *int
	sup *int // sum of "suppressed"
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || r.Message != h.msg {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.n++
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			*h.sup += int(a.Value.Int64())
		}
		return true
	})
	return nil
}

// TestNode_unreachablePeer_reportedAndLogRateLimited: a member with
// nothing listening is reported unreachable by the leader's Contacts
// (and a live one reachable, with a round-trip time), and the leader
// logs its failed heartbeats to it at most once per 10s (hashicorp/raft
// tries several times a second), saying how many it left out.
func TestNode_unreachablePeer_reportedAndLogRateLimited(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var mu sync.Mutex
		var logged, suppressed int
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
			cfg.Logger = slog.New(countingHandler{msg: "failed to heartbeat to", mu: &mu, n: &logged, sup: &suppressed})
			cfg.DeadVoterAfter = -1
		}})
		allVoters(c, 3)
		l := c.Leader()
		var dead, live string
		for _, id := range c.IDs() {
			switch {
			case id == l.ID():
			case dead == "":
				dead = id
			default:
				live = id
			}
		}
		c.Kill(dead)
		const watch = 60 * time.Second
		time.Sleep(watch) // logical time
		if !l.IsLeader() {
			t.Fatalf("%s lost leadership", l.ID())
		}
		cs := l.Contacts()
		if d := cs[dead]; !d.Observed || d.Reachable || time.Since(d.Last) < watch {
			t.Errorf("dead member %s: %+v, want observed, unreachable, last contact before the kill", dead, d)
		}
		if lv := cs[live]; !lv.Observed || !lv.Reachable || lv.Last.IsZero() {
			t.Errorf("live member %s: %+v, want observed and reachable", live, lv)
		}
		if me := cs[l.ID()]; !me.Reachable {
			t.Errorf("leader itself: %+v", me)
		}
		// A follower observes the leader only.
		f := c.Node(live).Contacts()
		if !f[l.ID()].Observed || !f[l.ID()].Reachable || f[dead].Observed {
			t.Errorf("follower %s sees %+v", live, f)
		}
		mu.Lock()
		defer mu.Unlock()
		if max := int(watch/(10*time.Second)) + 2; logged > max || logged == 0 || suppressed == 0 {
			t.Fatalf("%d heartbeat failures logged in %v (%d suppressed), want 1..%d with some suppressed", logged, watch, suppressed, max)
		}
		t.Logf("%d heartbeat failures logged in %v, %d suppressed", logged, watch, suppressed)
	})
}
