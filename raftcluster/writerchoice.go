package raftcluster

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Writer choice on failover: the new leader hands leadership to the live
// voter with the smallest overlay (see doc.go, Writer choice).

// handOver runs when this node won leadership and another member was the
// writer (it failed, or lost leadership): if the live voter with the
// smallest reported overlay, the cheapest member to promote, is not this
// node and its overlay is smaller than this node's by at least
// WriterPreferenceMargin and by a quarter, it hands Raft leadership to it; that member
// then becomes the writer. It tries once per term and reports whether
// leadership moved; if the transfer fails (the candidate died too), this
// node becomes the writer itself.
func (n *Node) handOver(ctx context.Context, st State, me Member, term uint64) bool {
	if n.cfg.WriterPreferenceMargin < 0 {
		return false
	}
	n.mu.Lock()
	tried := n.mu.handOverTerm == term
	n.mu.handOverTerm = term
	n.mu.Unlock()
	if tried {
		return false
	}
	c, ok := n.preferredWriter(st, st.Writer)
	// Reports lag the real sizes by up to an eighth (see report), so a
	// hand-over needs the candidate smaller by a quarter as well.
	if !ok || c.ID == n.id || me.OverlayBytes-c.OverlayBytes < n.cfg.WriterPreferenceMargin || c.OverlayBytes > me.OverlayBytes/4*3 {
		return false
	}
	n.log.Info("raftcluster: handing leadership to the member with the smallest overlay",
		"to", c.ID, "overlay", c.OverlayBytes, "own", me.OverlayBytes)
	if err := n.await(ctx, n.raft.LeadershipTransferToServer(raft.ServerID(c.ID), raft.ServerAddress(c.RaftAddr))); err != nil {
		n.log.Warn("raftcluster: leadership hand-over failed; becoming the writer", "to", c.ID, "err", err)
		return false
	}
	return true
}

// preferredWriter returns the live voter (not excluded, reachable (see
// Contact), has reported its overlay) with the smallest reported overlay,
// ties broken by ID, leaving out the members named in skip.
func (n *Node) preferredWriter(st State, skip ...string) (Member, bool) {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return Member{}, false
	}
	voters := map[string]bool{}
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters[string(s.ID)] = true
		}
	}
	return preferWriter(st, n.id, voters, n.unreachable(), skip)
}

// preferWriter is preferredWriter's choice among st's members, for the
// node self, given the Raft voters and the members that are down. A
// member other than self that has not reported since it last started from
// a fresh view (ReportedIndex 0: its OverlayBytes is zeroed, not
// measured, and it may not have caught up) is no candidate.
func preferWriter(st State, self string, voters map[string]bool, down map[string]time.Time, skip []string) (Member, bool) {
	var best Member
	found := false
	for _, m := range st.Members {
		if _, d := down[m.ID]; !voters[m.ID] || m.Excluded || d || slices.Contains(skip, m.ID) ||
			(m.ReportedIndex == 0 && m.ID != self) {
			continue
		}
		if !found || m.OverlayBytes < best.OverlayBytes {
			best, found = m, true
		}
	}
	return best, found
}
