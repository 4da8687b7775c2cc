package raftcluster

import "time"

// The storage loop decides, then acts: decideStorage is a pure function
// of the loop's memory and what it observes, and returns the effects to
// run in order (Node.storageStep runs them and stops at the first that
// fails). Each action carries the memory to keep once it has succeeded, so
// a failed effect is retried on the next step.

// storageObs is what one storage step observes.
type storageObs struct {
	st         State
	self       string        // this node's ID
	leader     bool          // this node is the Raft leader
	guardEpoch uint64        // the epoch the Guard is open for (0: closed)
	now        time.Time     //
	fenceDelay time.Duration // how long a new writer waits for its predecessor's lease
}

// storageActKind names an effect of the storage loop.
type storageActKind uint8

const (
	actFence        storageActKind = iota + 1 // close the Guard; Storage.Fence(epoch)
	actWait                                   // wake the loop again after wait; always the step's last
	actOpenGuard                              // open the Guard for epoch (promotion writes through it)
	actBecomeWriter                           // Storage.BecomeWriter(epoch)
	actSetCopiers                             // Storage.SetCopiers(epoch, generation, copiers)
	actReset                                  // Storage.Reset(epoch, writer)
	actReportReset                            // tell the leader: cmd (ResetDone or Rejoin) for index
	actBecomeCopier                           // Storage.BecomeCopier(epoch, writer)
	actReport                                 // report the overlay size if due (reportDue)
)

// storageAction is one effect, with its arguments.
type storageAction struct {
	kind       storageActKind
	epoch      uint64
	generation uint64
	member     Member   // the writer (Reset, BecomeCopier); this member (Report)
	copiers    []Member // SetCopiers
	wait       time.Duration
	cmd        cmdKind // ReportReset: kindResetDone or kindRejoin
	index      uint64  // ReportReset: the exclusion or grant it answers
	after      storageState
}

// decideStorage returns the storage loop's effects for one step, in order.
func decideStorage(s storageState, o storageObs) []storageAction {
	var acts []storageAction
	add := func(a storageAction) { a.after = s; acts = append(acts, a) }
	st := o.st
	me, member := st.Member(o.self)

	if we := o.guardEpoch; we != 0 && (st.Writer != o.self || st.Epoch != we || !o.leader) {
		s.copierKey = copierKey{}
		add(storageAction{kind: actFence, epoch: we})
	}
	if !member {
		return acts
	}
	switch {
	case st.Writer == o.self && o.leader && !me.Excluded:
		if s.becameWriter != st.Epoch {
			if s.seenEpoch != st.Epoch {
				s.seenEpoch, s.seenAt = st.Epoch, o.now
			}
			if wait := o.fenceDelay - o.now.Sub(s.seenAt); wait > 0 {
				add(storageAction{kind: actWait, wait: wait})
				return acts
			}
			// Open the Guard first: promotion's own writes to shared
			// storage go through it.
			add(storageAction{kind: actOpenGuard, epoch: st.Epoch})
			s.becameWriter = st.Epoch
			s.copiersKey = [2]uint64{}
			add(storageAction{kind: actBecomeWriter, epoch: st.Epoch})
		}
		if k := [2]uint64{st.Epoch, st.Generation}; s.copiersKey != k {
			s.copiersKey = k
			add(storageAction{kind: actSetCopiers, epoch: st.Epoch, generation: st.Generation, copiers: st.Copiers()})
		}
	case st.Writer != o.self:
		w, _ := st.Member(st.Writer)
		if me.Excluded || st.Resetting == o.self {
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
			if key := [3]uint64{me.Generation, me.JoinIndex, cause}; s.resetFor != key {
				s.resetFor = key
				add(storageAction{kind: actReset, epoch: st.Epoch, member: w})
			}
			cmd := kindResetDone
			if me.Excluded {
				cmd = kindRejoin
			}
			s.copierKey = copierKey{st.Epoch, st.Writer}
			add(storageAction{kind: actReportReset, cmd: cmd, index: cause})
			return acts
		}
		if k := (copierKey{st.Epoch, st.Writer}); st.Writer != "" && s.copierKey != k {
			s.copierKey = k
			add(storageAction{kind: actBecomeCopier, epoch: st.Epoch, member: w})
		}
	}
	add(storageAction{kind: actReport, member: me})
	return acts
}

// reportDue reports whether this member should send its overlay size
// (bytes) to the leader now: when it never did in this generation, at once
// when it reached the reset threshold th (the leader then grants the slot
// without waiting: a fast-growing overlay would overshoot by a
// ReportInterval's growth otherwise), or, at most once per interval, when
// it changed by more than 1/8 (and 1 MiB) or crossed the threshold since
// the last report.
func reportDue(s storageState, me Member, bytes, th int64, interval time.Duration, now time.Time) bool {
	first := me.ReportedIndex == 0 || s.reportedGen != me.Generation
	reached := th > 0 && bytes >= th && me.OverlayBytes < th
	if first || reached {
		return true
	}
	if now.Sub(s.lastReport) < interval {
		return false
	}
	d := bytes - me.OverlayBytes
	if d < 0 {
		d = -d
	}
	crossed := th > 0 && (bytes >= th) != (me.OverlayBytes >= th)
	return crossed || (d >= 1<<20 && d >= me.OverlayBytes/8)
}
