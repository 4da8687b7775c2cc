package raftcluster

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// observeLoop turns Raft observations into leader/storage wake-ups.
// Reachability is not taken from them (see contacts).
func (n *Node) observeLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.obsCh:
			n.wake(n.leaderWake)
			n.wake(n.leaseWake)
			n.wake(n.storageWake)
		}
	}
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
	n.noteLeading(term)
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

// excludeFailing excludes copiers that the leader has not heard from for
// ExcludeAfter.
func (n *Node) excludeFailing(ctx context.Context, st State) {
	if n.cfg.ExcludeAfter <= 0 {
		return
	}
	now := time.Now()
	var due []string
	for id, since := range n.unreachable() {
		if now.Sub(since) >= n.cfg.ExcludeAfter {
			due = append(due, id)
		}
	}
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
// overlay at or above the reset threshold (Config.ResetAt or
// ResetThreshold), if the slot is free.
func (n *Node) grantReset(ctx context.Context, st State) {
	threshold := n.resetThreshold()
	if threshold <= 0 || st.Resetting != "" {
		return
	}
	failing := n.unreachable()
	var best *Member
	for i, m := range st.Members {
		if _, down := failing[m.ID]; m.ID == st.Writer || m.Excluded || down || m.OverlayBytes < threshold {
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
	var timer *time.Timer // actWait's
	for {
		select {
		case <-n.done:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-n.storageWake:
		case <-t.C:
		}
		n.storageStep(&s, &timer)
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
}

// storageStep observes, decides (decideStorage), then runs the effects in
// order until one fails.
func (n *Node) storageStep(s *storageState, timer **time.Timer) {
	ctx, cancel := n.stepCtx()
	defer cancel()
	obs := storageObs{st: n.State(), self: n.id, leader: n.raft.State() == raft.Leader,
		guardEpoch: n.writerEpoch.Load(), now: time.Now(), fenceDelay: n.cfg.Timeouts.fenceDelay()}
	for _, a := range decideStorage(*s, obs) {
		if !n.storageAct(ctx, a, timer) {
			return
		}
		*s = a.after
		if a.kind == actReport {
			n.report(ctx, s, a.member)
		}
	}
}

// storageAct runs one effect of the storage loop and reports whether it
// succeeded (the step goes on).
func (n *Node) storageAct(ctx context.Context, a storageAction, timer **time.Timer) bool {
	store := n.cfg.Storage
	switch a.kind {
	case actFence:
		n.writerEpoch.Store(0)
		if store != nil {
			store.Fence(a.epoch)
		}
		n.log.Info("raftcluster: fenced", "epoch", a.epoch)
	case actWait:
		if *timer != nil {
			(*timer).Stop()
		}
		*timer = time.AfterFunc(a.wait, func() { n.wake(n.storageWake) })
		// decideStorage ends the step here; the memory (when the epoch was
		// first seen) is kept.
	case actOpenGuard:
		n.writerEpoch.Store(a.epoch)
	case actBecomeWriter:
		if store != nil {
			if err := store.BecomeWriter(n.ctx, a.epoch); err != nil {
				n.log.Warn("raftcluster: become writer", "epoch", a.epoch, "err", err)
				return false
			}
		}
		n.log.Info("raftcluster: writer", "epoch", a.epoch)
	case actSetCopiers:
		if store != nil {
			store.SetCopiers(a.epoch, a.generation, a.copiers)
		}
	case actReset:
		if store != nil {
			if err := store.Reset(n.ctx, a.epoch, a.member); err != nil {
				n.log.Warn("raftcluster: reset", "err", err)
				return false
			}
		}
	case actReportReset:
		if err := n.toLeader(ctx, command{Kind: a.cmd, ID: n.id, Index: a.index}); err != nil {
			if !errors.Is(err, ErrRejected) { // rejected: already recorded; wait for the entry to apply here
				n.log.Warn("raftcluster: report reset", "kind", a.cmd, "err", err)
			}
			return false
		}
	case actBecomeCopier:
		if store != nil {
			if err := store.BecomeCopier(n.ctx, a.epoch, a.member); err != nil {
				n.log.Warn("raftcluster: become copier", "epoch", a.epoch, "err", err)
				return false
			}
		}
	}
	return true
}

// report sends this member's overlay size to the leader when reportDue
// says so.
func (n *Node) report(ctx context.Context, s *storageState, me Member) {
	var bytes int64
	if n.cfg.Storage != nil {
		bytes = max(n.cfg.Storage.OverlayBytes(), 0)
	}
	now := time.Now()
	if !reportDue(*s, me, bytes, n.resetThreshold(), n.cfg.ReportInterval, now) {
		return
	}
	s.lastReport = now
	err := n.toLeader(ctx, command{Kind: kindReportOverlay, ID: n.id, Bytes: uint64(bytes), Index: n.AppliedIndex()})
	if err != nil {
		if !errors.Is(err, ErrNotLeader) {
			n.log.Debug("raftcluster: report overlay", "err", err)
		}
		return
	}
	s.reportedGen = me.Generation
}
