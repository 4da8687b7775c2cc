package raftcluster

import (
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// A dead leader, detected early (see doc.go, Failover timing).
//
// hashicorp/raft checks a follower's heartbeat on a timer that fires every
// Heartbeat to 2×Heartbeat, so a follower notices a silent leader between
// Heartbeat and about 3×Heartbeat after its last message; and a voter that
// still knows a leader refuses (pre-)votes, so the first follower to
// notice usually loses its campaign and waits an Election timeout more.
// Both together made a failover take about 2.5 heartbeat timeouts.
//
// leaderGoneLoop shortens that when the leader's process is gone, not
// merely slow: once the leader has been silent for a quarter of Heartbeat,
// the follower asks its transport whether anything still listens at the
// leader's address (a refused TCP connection: a stalled process still
// accepts connections, its kernel does). If nothing does, it wakes Raft's
// heartbeat check right when Heartbeat has passed since the leader's last
// message, through ReloadConfig (lowering HeartbeatTimeout re-runs the
// check at once). The surviving voter that the new leader would prefer as
// writer (smallest reported overlay, then ID) waits Heartbeat/4 longer
// than the others, so that the others have given up the old leader when
// it asks for their votes, and wins at the first try.
//
// Nothing here decides an election or a lease: Raft's safety does not
// depend on timing, and the writer lease (fencing) counts from the new
// epoch's commit whatever the election took. Where the leader's host is
// down or partitioned, no connection is refused and Raft's own timers act.

// leaderGoneLoop runs on every node until Shutdown.
func (n *Node) leaderGoneLoop() {
	defer n.wg.Done()
	hb := n.cfg.Timeouts.Heartbeat
	t := time.NewTicker(max(hb/10, time.Millisecond))
	defer t.Stop()
	var handled time.Time // the leader's last contact that a wake-up answered
	var probed time.Time  // the last probe (at most one per Heartbeat/4)
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Follower {
			continue
		}
		addr, id := n.raft.LeaderWithID()
		last := n.raft.LastContact()
		if addr == "" || last.IsZero() || last.Equal(handled) || time.Since(last) < hb/4 {
			continue
		}
		if time.Since(probed) < hb/4 {
			continue
		}
		wait, ok := n.leaderGoneWait(string(id))
		if !ok {
			continue
		}
		probed = time.Now()
		ctx, cancel := n.stepCtx()
		gone := n.trans.peerGone(ctx, string(addr))
		cancel()
		if !gone {
			continue
		}
		handled = last
		// Raft calls an election only once Heartbeat has passed since the
		// last contact; a millisecond more absorbs timer granularity.
		tm := newTimer(time.Until(last.Add(hb + wait + time.Millisecond)))
		select {
		case <-n.done:
			tm.Stop()
			return
		case <-tm.C:
		}
		if a, _ := n.raft.LeaderWithID(); a != addr || !n.raft.LastContact().Equal(last) || n.raft.State() != raft.Follower {
			continue // the leader spoke, or another took over
		}
		n.log.Info("raftcluster: the leader's process is gone; calling an election", "leader", id, "silent", time.Since(last).Round(time.Millisecond))
		if err := n.recheckHeartbeat(); err != nil {
			n.log.Warn("raftcluster: wake the heartbeat check", "err", err)
		}
	}
}

// leaderGoneWait returns how much longer than Heartbeat this voter waits
// before calling an election when leader is gone: Heartbeat/4 for the
// survivor that the next leader would choose as writer (preferredWriter,
// the same rule the hand-over applies), 0 for the others. ok is false if
// this node is no voter (it cannot be elected or vote).
func (n *Node) leaderGoneWait(leader string) (time.Duration, bool) {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return 0, false
	}
	if !slices.ContainsFunc(cf.Configuration().Servers, func(s raft.Server) bool {
		return string(s.ID) == n.id && s.Suffrage == raft.Voter
	}) {
		return 0, false
	}
	if best, ok := n.preferredWriter(n.State(), leader); ok && best.ID == n.id {
		return n.cfg.Timeouts.Heartbeat / 4, true
	}
	return 0, true
}

// recheckHeartbeat makes Raft check the leader's heartbeat now: it raises
// HeartbeatTimeout by a millisecond and lowers it back, and
// hashicorp/raft re-runs a follower's check at once when the timeout
// goes down.
func (n *Node) recheckHeartbeat() error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	rc := n.raft.ReloadableConfig()
	up := rc
	up.HeartbeatTimeout += time.Millisecond
	up.ElectionTimeout = max(up.ElectionTimeout, up.HeartbeatTimeout)
	if err := n.raft.ReloadConfig(up); err != nil {
		return err
	}
	return n.raft.ReloadConfig(rc)
}
