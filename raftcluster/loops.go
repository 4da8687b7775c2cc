package raftcluster

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// observeLoop turns Raft observations into leader/storage wake-ups and
// tracks followers whose heartbeats fail (leader only).
func (n *Node) observeLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case o := <-n.obsCh:
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				n.mu.Lock()
				if _, ok := n.mu.failing[string(d.PeerID)]; !ok {
					since := d.LastContact
					if since.IsZero() {
						since = time.Now()
					}
					n.mu.failing[string(d.PeerID)] = since
				}
				n.mu.Unlock()
			case raft.ResumedHeartbeatObservation:
				n.mu.Lock()
				delete(n.mu.failing, string(d.PeerID))
				n.mu.Unlock()
			case raft.LeaderObservation, raft.RaftState:
				n.mu.Lock()
				clear(n.mu.failing)
				n.mu.Unlock()
			}
			n.wake(n.leaderWake)
			n.wake(n.leaseWake)
			n.wake(n.storageWake)
		}
	}
}

// leaseLoop renews the writer lease every WriterLease/4 while this node
// leads. It runs apart from the leader loop, so that slow leader duties
// (membership changes, exclusions) never delay a renewal.
func (n *Node) leaseLoop() {
	n.whileLeader(n.leaseWake, func() {
		if err := n.renewLease(n.ctx); err != nil {
			n.log.Debug("raftcluster: renew writer lease", "err", err)
		}
	})
}

// whileLeader runs step every WriterLease/4 and on each wake-up while
// this node is the Raft leader, until Shutdown.
func (n *Node) whileLeader(wake <-chan struct{}, step func()) {
	defer n.wg.Done()
	t := time.NewTicker(max(n.cfg.Timeouts.WriterLease/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-wake:
		case <-t.C:
		}
		if n.raft.State() == raft.Leader {
			step()
		}
	}
}

// renewLease asks a quorum to confirm this node's leadership: a
// confirmation of a check that started at s keeps the writer's Guard open
// until s+WriterLease. A check that takes longer than WriterLease is
// abandoned (it could not extend the lease past now), as is one whose ctx
// ends.
func (n *Node) renewLease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeouts.WriterLease)
	defer cancel()
	start := time.Now()
	if err := n.await(ctx, n.raft.VerifyLeader()); err != nil {
		n.lease.failures.Add(1)
		return err
	}
	n.lease.renewals.Add(1)
	n.mu.Lock()
	if until := start.Add(n.cfg.Timeouts.WriterLease); until.After(n.mu.leaseUntil) {
		n.mu.leaseUntil = until
	}
	n.mu.Unlock()
	return nil
}

// leaseValid reports whether the writer lease runs now.
func (n *Node) leaseValid() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return time.Now().Before(n.mu.leaseUntil)
}

// leaderLoop runs the leader's duties every WriterLease/4 and on wake-ups.
func (n *Node) leaderLoop() { n.whileLeader(n.leaderWake, n.leaderStep) }

func (n *Node) stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, 5*n.cfg.Timeouts.Heartbeat)
}

// leaderStep: barrier once per term, writer lease, writer choice, Raft
// configuration vs cluster state, promotion, exclusion, reset grants.
func (n *Node) leaderStep() {
	ctx, cancel := n.stepCtx()
	defer cancel()
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() != term {
		if err := n.Barrier(ctx); err != nil {
			n.log.Debug("raftcluster: leader barrier", "err", err)
			return
		}
	}
	// Act only while a quorum recently confirmed our leadership (the
	// lease loop keeps it fresh; at the start of a term, confirm here).
	if !n.leaseValid() {
		if err := n.renewLease(ctx); err != nil {
			n.log.Debug("raftcluster: verify leader", "err", err)
			return
		}
	}

	st := n.State()
	me, ok := st.Member(n.id)
	if !ok {
		if _, err := n.applyControl(ctx, command{Kind: kindAddMember, ID: n.id, RaftAddr: n.addr, StabilityAddr: n.cfg.StabilityAddr}); err != nil {
			n.log.Warn("raftcluster: add self", "err", err)
		}
		return
	}
	// Writer = leader: bump the epoch once per leadership term.
	n.mu.Lock()
	wt := n.mu.writerTerm
	n.mu.Unlock()
	if !me.Excluded && (st.Writer != n.id || wt != term) {
		if st.Writer != n.id && n.handOver(ctx, st, me, term) {
			return
		}
		if _, err := n.applyControl(ctx, command{Kind: kindSetWriter, ID: n.id, Epoch: st.Epoch + 1}); err != nil {
			n.log.Warn("raftcluster: set writer", "err", err)
			return
		}
		n.mu.Lock()
		n.mu.writerTerm = term
		n.mu.Unlock()
		st = n.State()
	}
	n.reconcileConfig(ctx, st)
	n.excludeFailing(ctx, st)
	n.grantReset(ctx, st)
}

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

// preferredWriter returns the live voter (not excluded, heartbeats not
// failing, has reported its overlay) with the smallest reported overlay,
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
	n.mu.Lock()
	failing := idSet(n.mu.failing)
	n.mu.Unlock()
	var best Member
	found := false
	for _, m := range st.Members {
		if !voters[m.ID] || m.Excluded || failing[m.ID] || slices.Contains(skip, m.ID) ||
			(m.ReportedIndex == 0 && m.ID != n.id) {
			continue
		}
		if !found || m.OverlayBytes < best.OverlayBytes {
			best, found = m, true
		}
	}
	return best, found
}

// reconcileConfig makes Raft's configuration follow the cluster state,
// promotes caught-up non-voters while fewer than MaxVoters voters are
// live, and demotes voters dead for DeadVoterAfter.
func (n *Node) reconcileConfig(ctx context.Context, st State) {
	n.memberOps.Lock()
	defer n.memberOps.Unlock()
	st = n.State() // re-read under the lock
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return
	}
	servers := map[string]raft.Server{}
	voters := 0
	for _, s := range cf.Configuration().Servers {
		servers[string(s.ID)] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	timeout := n.ctxTimeout(ctx)
	for _, m := range st.Members {
		s, ok := servers[m.ID]
		switch {
		case !ok:
			// Recorded but not in Raft (a join interrupted midway).
			if err := n.await(ctx, n.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)); err != nil {
				return
			}
		case s.Suffrage == raft.Voter && m.Suffrage != Voter:
			if _, err := n.applyControl(ctx, command{Kind: kindSetVoter, ID: m.ID}); err != nil {
				return
			}
		case s.Suffrage != raft.Voter && m.Suffrage == Voter && m.ID != st.Writer:
			// A demotion interrupted midway.
			if _, err := n.applyControl(ctx, command{Kind: kindSetNonvoter, ID: m.ID}); err != nil {
				return
			}
		}
	}
	for id := range servers {
		if _, ok := st.Member(id); !ok && id != n.id {
			if err := n.await(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, timeout)); err != nil {
				return
			}
		}
	}
	n.mu.Lock()
	failing := idSet(n.mu.failing)
	var dead []string
	if n.cfg.DeadVoterAfter > 0 {
		now := time.Now()
		for id, since := range n.mu.failing {
			if s, ok := servers[id]; ok && s.Suffrage == raft.Voter && id != n.id && now.Sub(since) >= n.cfg.DeadVoterAfter {
				dead = append(dead, id)
			}
		}
	}
	n.mu.Unlock()
	slices.Sort(dead)
	if voters-len(dead) < n.cfg.MaxVoters {
		for _, m := range st.Members {
			s, ok := servers[m.ID]
			if !ok || s.Suffrage == raft.Voter || m.Excluded || failing[m.ID] || m.ReportedIndex < m.JoinIndex || m.ReportedIndex == 0 {
				continue
			}
			if err := n.await(ctx, n.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)); err != nil {
				n.log.Warn("raftcluster: promote", "member", m.ID, "err", err)
				return
			}
			if _, err := n.applyControl(ctx, command{Kind: kindSetVoter, ID: m.ID}); err != nil {
				n.log.Warn("raftcluster: record promotion", "member", m.ID, "err", err)
			}
			return // one per step
		}
	}
	// Demote a dead voter: quorum then counts live members only. Never
	// below min(3, MaxVoters) voters (a replacement was promoted above
	// where one was available).
	if len(dead) > 0 && voters-1 >= min(3, n.cfg.MaxVoters) {
		id := dead[0]
		if id == st.Writer {
			return
		}
		n.log.Warn("raftcluster: demoting unreachable voter", "member", id)
		if err := n.await(ctx, n.raft.DemoteVoter(raft.ServerID(id), 0, timeout)); err != nil {
			n.log.Warn("raftcluster: demote", "member", id, "err", err)
			return
		}
		if _, err := n.applyControl(ctx, command{Kind: kindSetNonvoter, ID: id}); err != nil {
			n.log.Warn("raftcluster: record demotion", "member", id, "err", err)
		}
	}
}

func idSet(m map[string]time.Time) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// excludeFailing excludes copiers that the leader could not heartbeat for
// ExcludeAfter.
func (n *Node) excludeFailing(ctx context.Context, st State) {
	if n.cfg.ExcludeAfter <= 0 {
		return
	}
	now := time.Now()
	n.mu.Lock()
	var due []string
	for id, since := range n.mu.failing {
		if now.Sub(since) >= n.cfg.ExcludeAfter {
			due = append(due, id)
		}
	}
	n.mu.Unlock()
	slices.Sort(due)
	for _, id := range due {
		m, ok := st.Member(id)
		if !ok || m.Excluded || id == st.Writer {
			continue
		}
		if _, err := n.applyControl(ctx, command{Kind: kindExclude, ID: id, Epoch: st.Epoch}); err != nil {
			n.log.Warn("raftcluster: exclude", "member", id, "err", err)
			return
		}
	}
}

// grantReset gives the reset slot to the live copier with the largest
// overlay at or above ResetThreshold, if the slot is free.
func (n *Node) grantReset(ctx context.Context, st State) {
	if n.cfg.ResetThreshold <= 0 || st.Resetting != "" {
		return
	}
	n.mu.Lock()
	failing := idSet(n.mu.failing)
	n.mu.Unlock()
	var best *Member
	for i, m := range st.Members {
		if m.ID == st.Writer || m.Excluded || failing[m.ID] || m.OverlayBytes < n.cfg.ResetThreshold {
			continue
		}
		if best == nil || m.OverlayBytes > best.OverlayBytes {
			best = &st.Members[i]
		}
	}
	if best == nil {
		return
	}
	if _, err := n.applyControl(ctx, command{Kind: kindResetStart, ID: best.ID, Epoch: st.Epoch}); err != nil {
		n.log.Warn("raftcluster: grant reset", "member", best.ID, "err", err)
	}
}

// storageLoop drives Storage from the replicated state, one call at a
// time.
func (n *Node) storageLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Timeouts.Heartbeat)
	defer t.Stop()
	var s storageState
	for {
		select {
		case <-n.done:
			if s.timer != nil {
				s.timer.Stop()
			}
			return
		case <-n.storageWake:
		case <-t.C:
		}
		n.storageStep(&s)
	}
}

type copierKey struct {
	epoch  uint64
	writer string
}

// storageState is the storage loop's memory.
type storageState struct {
	seenEpoch    uint64    // writer epoch naming us, first seen at seenAt
	seenAt       time.Time //
	copiersKey   [2]uint64 // (epoch, generation) last passed to SetCopiers
	copierKey    copierKey // last BecomeCopier
	lastReport   time.Time
	resetFor     [3]uint64 // (generation, join index, cause index) for which Reset succeeded
	becameWriter uint64    // epoch for which BecomeWriter returned nil
	reportedGen  uint64
	timer        *time.Timer
}

func (n *Node) storageStep(s *storageState) {
	ctx, cancel := n.stepCtx()
	defer cancel()
	store := n.cfg.Storage
	st := n.State()
	me, member := st.Member(n.id)
	leader := n.raft.State() == raft.Leader

	if we := n.writerEpoch.Load(); we != 0 && (st.Writer != n.id || st.Epoch != we || !leader) {
		n.writerEpoch.Store(0)
		if store != nil {
			store.Fence(we)
		}
		n.log.Info("raftcluster: fenced", "epoch", we)
		s.copierKey = copierKey{}
	}
	if !member {
		return
	}
	switch {
	case st.Writer == n.id && leader && !me.Excluded:
		if s.becameWriter != st.Epoch {
			if s.seenEpoch != st.Epoch {
				s.seenEpoch, s.seenAt = st.Epoch, time.Now()
			}
			if wait := n.cfg.Timeouts.fenceDelay() - time.Since(s.seenAt); wait > 0 {
				if s.timer != nil {
					s.timer.Stop()
				}
				s.timer = time.AfterFunc(wait, func() { n.wake(n.storageWake) })
				return
			}
			// Open the Guard first: promotion's own writes to shared
			// storage go through it.
			n.writerEpoch.Store(st.Epoch)
			if store != nil && s.becameWriter != st.Epoch {
				if err := store.BecomeWriter(n.ctx, st.Epoch); err != nil {
					n.log.Warn("raftcluster: become writer", "epoch", st.Epoch, "err", err)
					return
				}
			}
			s.becameWriter = st.Epoch
			n.log.Info("raftcluster: writer", "epoch", st.Epoch)
			s.copiersKey = [2]uint64{}
		}
		if k := [2]uint64{st.Epoch, st.Generation}; s.copiersKey != k && store != nil {
			store.SetCopiers(st.Epoch, st.Generation, st.Copiers())
			s.copiersKey = k
		}
	case st.Writer != n.id:
		w, _ := st.Member(st.Writer)
		if me.Excluded || st.Resetting == n.id {
			// Reset once per exclusion or reset grant (named by its log
			// index) and member generation: the generation moves when
			// ResetDone/Rejoin applies, and until this node sees that
			// it only retries the report, which names the same index (a
			// retry that arrives after a newer exclusion or grant is
			// rejected, and the member resets again for that one).
			cause := st.ResettingIndex
			if me.Excluded {
				cause = me.ExcludedIndex
			}
			key := [3]uint64{me.Generation, me.JoinIndex, cause}
			if s.resetFor != key {
				if store != nil {
					if err := store.Reset(n.ctx, st.Epoch, w); err != nil {
						n.log.Warn("raftcluster: reset", "err", err)
						return
					}
				}
				s.resetFor = key
			}
			kind := kindResetDone
			if me.Excluded {
				kind = kindRejoin
			}
			if err := n.toLeader(ctx, command{Kind: kind, ID: n.id, Index: cause}); err != nil {
				if errors.Is(err, ErrRejected) {
					return // already recorded; wait for the entry to apply here
				}
				n.log.Warn("raftcluster: report reset", "kind", kind, "err", err)
				return
			}
			s.copierKey = copierKey{st.Epoch, st.Writer}
			return
		}
		if k := (copierKey{st.Epoch, st.Writer}); st.Writer != "" && s.copierKey != k {
			if store != nil {
				if err := store.BecomeCopier(n.ctx, st.Epoch, w); err != nil {
					n.log.Warn("raftcluster: become copier", "epoch", st.Epoch, "err", err)
					return
				}
			}
			s.copierKey = k
		}
	}
	n.report(ctx, s, me)
}

// report sends this member's overlay size to the leader when it never
// did in this generation, or, at most once per ReportInterval, when it
// changed by more than 1/8 (and 1 MiB) or crossed ResetThreshold since
// the last report.
func (n *Node) report(ctx context.Context, s *storageState, me Member) {
	var bytes int64
	if n.cfg.Storage != nil {
		bytes = max(n.cfg.Storage.OverlayBytes(), 0)
	}
	first := me.ReportedIndex == 0 || s.reportedGen != me.Generation
	if !first {
		if time.Since(s.lastReport) < n.cfg.ReportInterval {
			return
		}
		d := bytes - me.OverlayBytes
		if d < 0 {
			d = -d
		}
		crossed := n.cfg.ResetThreshold > 0 && (bytes >= n.cfg.ResetThreshold) != (me.OverlayBytes >= n.cfg.ResetThreshold)
		if !crossed && (d < 1<<20 || d < me.OverlayBytes/8) {
			return
		}
	}
	s.lastReport = time.Now()
	err := n.toLeader(ctx, command{Kind: kindReportOverlay, ID: n.id, Bytes: uint64(bytes), Index: n.AppliedIndex()})
	if err != nil {
		if !errors.Is(err, ErrNotLeader) {
			n.log.Debug("raftcluster: report overlay", "err", err)
		}
		return
	}
	s.reportedGen = me.Generation
}
