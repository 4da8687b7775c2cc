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
// did in this generation, at once when it reached the reset threshold
// (the leader then grants the slot without waiting: a fast-growing overlay
// would overshoot by a ReportInterval's growth otherwise), or, at most
// once per ReportInterval, when it changed by more than 1/8 (and 1 MiB) or
// fell below the threshold since the last report.
func (n *Node) report(ctx context.Context, s *storageState, me Member) {
	var bytes int64
	if n.cfg.Storage != nil {
		bytes = max(n.cfg.Storage.OverlayBytes(), 0)
	}
	first := me.ReportedIndex == 0 || s.reportedGen != me.Generation
	th := n.resetThreshold()
	reached := th > 0 && bytes >= th && me.OverlayBytes < th
	if !first && !reached {
		if time.Since(s.lastReport) < n.cfg.ReportInterval {
			return
		}
		d := bytes - me.OverlayBytes
		if d < 0 {
			d = -d
		}
		crossed := th > 0 && (bytes >= th) != (me.OverlayBytes >= th)
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
