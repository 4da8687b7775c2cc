package raftcluster_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// slowElections gives member slow longer Raft timeouts. In a cluster of
// five, the other live members then elect one of themselves before slow
// stops believing in the dead leader (pre-vote), so slow never wins the
// first election after the writer dies.
func slowElections(slow string) func(cfg *raftcluster.Config) {
	return func(cfg *raftcluster.Config) {
		if cfg.ID == slow {
			cfg.Timeouts.Heartbeat *= 4
			cfg.Timeouts.Election *= 4
		}
	}
}

// overlayFailover starts a cluster whose members report the given overlay
// sizes, waits until the leader's state shows them, kills the writer n1,
// and returns the new writer and the writer history of the epochs after
// the kill.
func overlayFailover(t *testing.T, overlays map[string]int64, slow string) (string, []raftcluster.WriterTerm) {
	t.Helper()
	c, shared, stores := newSharedCluster(t, clustertest.Options{Nodes: len(overlays) + 1, Configure: slowElections(slow)})
	allVoters(c, len(overlays)+1)
	if w, _ := c.Writer(); w != "n1" {
		t.Fatalf("first writer %s, want n1", w)
	}
	for id, b := range overlays {
		stores[id].overlay.Store(b)
	}
	c.WaitFor("overlays reported", 30*time.Second, func() bool {
		st := c.Leader().State()
		for id, b := range overlays {
			if m, ok := st.Member(id); !ok || m.OverlayBytes != b {
				return false
			}
		}
		return true
	})
	_, epoch := c.Writer()
	c.Kill("n1")
	var nw string
	c.WaitFor("new writer", 20*time.Second, func() bool {
		w, e := "", uint64(0)
		for _, n := range c.Live() {
			if n.IsLeader() {
				st := n.State()
				w, e = st.Writer, st.Epoch
			}
		}
		if e > epoch && w != "n1" {
			nw = w
			return true
		}
		return false
	})
	c.WaitFor("new writer mutates", 10*time.Second, func() bool {
		e := shared.epochs()
		st := c.Node(nw).State()
		return len(e) > 0 && e[len(e)-1] == st.Epoch
	})
	if err := c.CheckHistories(); err != nil {
		t.Fatal(err)
	}
	st := c.Node(nw).State()
	i := slices.IndexFunc(st.History, func(h raftcluster.WriterTerm) bool { return h.Epoch > epoch })
	return nw, st.History[i:]
}

// TestNode_writerFailover_smallestOverlay: when the writer dies, the
// live member with the smallest overlay becomes the writer. In the five
// member cases that member is slow to call an election, so another member
// wins it and hands leadership over before it takes an epoch: exactly one
// new writer term follows the kill, no intermediate writer.
func TestNode_writerFailover_smallestOverlay(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name     string
		overlays map[string]int64
		slow     string
		want     []string // acceptable new writers
	}{
		{"3nodes", map[string]int64{"n2": 64 * mib, "n3": 8 * mib}, "", []string{"n3"}},
		{"5nodes", map[string]int64{"n2": 64 * mib, "n3": 32 * mib, "n4": 4 * mib, "n5": 16 * mib}, "n4", []string{"n4"}},
		// n4 is smallest, but by less than WriterPreferenceMargin (1 MiB),
		// or by less than a quarter: the election's winner keeps the
		// writer role.
		{"5nodesWithinMargin", map[string]int64{"n2": 8 * mib, "n3": 8 * mib, "n4": 8*mib - mib/2, "n5": 8 * mib}, "n4", []string{"n2", "n3", "n5"}},
		{"5nodesWithinQuarter", map[string]int64{"n2": 64 * mib, "n3": 64 * mib, "n4": 50 * mib, "n5": 64 * mib}, "n4", []string{"n2", "n3", "n5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				nw, hist := overlayFailover(t, tc.overlays, tc.slow)
				if !slices.Contains(tc.want, nw) {
					t.Fatalf("new writer %s, want one of %v (overlays %v)", nw, tc.want, tc.overlays)
				}
				if len(hist) != 1 || hist[0].ID != nw {
					t.Fatalf("writer terms after the kill %v, want one term of %s", hist, nw)
				}
			})
		})
	}
}

// TestNode_writerFailover_smallestOverlay_seeds repeats the five-member
// hand-over with random overlay sizes, for several seeds.
func TestNode_writerFailover_smallestOverlay_seeds(t *testing.T) {
	base := seed(t)
	for s := range uint64(4) {
		t.Run(fmt.Sprint(base+s), func(t *testing.T) {
			rnd := clustertest.Rand(base + s)
			ov := map[string]int64{}
			best := ""
			for _, id := range []string{"n2", "n3", "n4", "n5"} {
				ov[id] = int64(rnd.IntN(256)+8) << 18 // 2 MiB .. 66 MiB (a change of less than 1 MiB is not reported)
				if best == "" || ov[id] < ov[best] {
					best = id
				}
			}
			t.Logf("overlays %v, smallest %s", ov, best)
			bubble(t, func(t *testing.T) {
				nw, hist := overlayFailover(t, ov, best)
				// A member within the margin (1 MiB, or a quarter) of the
				// smallest may keep the role it won in the election.
				if ov[nw]-ov[best] >= 1<<20 && ov[best] <= ov[nw]/4*3 {
					t.Fatalf("new writer %s (overlay %d), smallest is %s (%d)", nw, ov[nw], best, ov[best])
				}
				if len(hist) != 1 || hist[0].ID != nw {
					t.Fatalf("writer terms after the kill %v, want one term of %s", hist, nw)
				}
			})
		})
	}
}

// TestNode_deadVoter_replacedAndDemoted: with MaxVoters 3 and a fourth,
// non-voting member, a dead voter is replaced by the non-voter and then
// demoted, so the cluster survives a second voter failure that would
// otherwise cost it its quorum. The dead member, restarted, is promoted
// again when a voter slot is free.
func TestNode_deadVoter_replacedAndDemoted(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 4, Configure: func(cfg *raftcluster.Config) {
			cfg.MaxVoters = 3
			cfg.DeadVoterAfter = 2 * time.Second
		}})
		// The non-voter is whichever member joined when three voters were
		// there already: usually n4, not always (joins race).
		var spare string
		c.WaitFor("3 voters + 1 reported non-voter", 20*time.Second, func() bool {
			spare = ""
			for _, m := range c.Leader().State().Members {
				if m.Suffrage == raftcluster.Nonvoter && m.ReportedIndex > 0 {
					spare = m.ID
				}
			}
			return votersOf(c.Leader()) == 3 && spare != ""
		})
		sub := c.Leader().Subscribe(64)
		defer sub.Unsubscribe()
		w, _ := c.Writer()
		victims := voterIDs(c.Leader(), w)
		first := victims[0]
		t.Logf("writer %s, killing voter %s", w, first)
		c.Kill(first)
		c.WaitFor(spare+" promoted, dead voter demoted", 30*time.Second, func() bool {
			l := c.Leader()
			st := l.State()
			m4, _ := st.Member(spare)
			mf, _ := st.Member(first)
			return m4.Suffrage == raftcluster.Voter && mf.Suffrage == raftcluster.Nonvoter && votersOf(l) == 3
		})
		var kinds []string
		for len(sub.C()) > 0 {
			ev := <-sub.C()
			if !ev.Initial && (ev.Kind == raftcluster.EventMemberPromoted || ev.Kind == raftcluster.EventMemberDemoted) {
				kinds = append(kinds, ev.String())
			}
		}
		if !slices.ContainsFunc(kinds, func(s string) bool { return strings.HasPrefix(s, "MemberPromoted{"+spare+" ") }) ||
			!slices.ContainsFunc(kinds, func(s string) bool { return strings.HasPrefix(s, "MemberDemoted{"+first+" ") }) {
			t.Fatalf("events %v, want MemberPromoted{%s} and MemberDemoted{%s}", kinds, spare, first)
		}
		// A second voter dies: 2 of 3 voters remain, enough for a quorum.
		w, _ = c.Writer()
		second := voterIDs(c.Leader(), w)[0]
		t.Logf("killing voter %s", second)
		c.Kill(second)
		if _, _, err := c.Leader().Apply(ctxT(t, 10*time.Second), []byte("after two voters died")); err != nil {
			t.Fatalf("apply with 2 of 4 original members dead: %v", err)
		}
		// The first victim comes back as a non-voter and, once it has
		// reported in, takes the free voter slot of the second.
		c.Restart(first)
		c.WaitFor(first+" voter again", 30*time.Second, func() bool {
			m, _ := c.Leader().State().Member(first)
			return m.Suffrage == raftcluster.Voter
		})
	})
}

// TestNode_deadVoter_keepsThree: with no replacement, a dead voter of
// three stays a voter (demoting it would leave two voters, no more failure
// tolerance and one copy of the log fewer).
func TestNode_deadVoter_keepsThree(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
			cfg.DeadVoterAfter = time.Second
		}})
		allVoters(c, 3)
		w, _ := c.Writer()
		c.Kill(voterIDs(c.Leader(), w)[0])
		l := c.Leader()
		if err := clustertest.Poll(10*time.Second, func() bool { return votersOf(l) < 3 }); err == nil {
			t.Fatalf("demoted below 3 voters: %d", votersOf(l))
		}
	})
}

// voterIDs returns the voters in n's Raft configuration other than skip,
// sorted.
func voterIDs(n *raftcluster.Node, skip string) []string {
	var out []string
	for _, m := range n.State().Members {
		if m.Suffrage == raftcluster.Voter && m.ID != skip {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}
