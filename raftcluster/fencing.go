package raftcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Writer fencing: the writer lease, renewed by quorum rounds, and the
// Guard that the writer view calls before each mutation (see doc.go,
// Fencing, leases and the remaining window).

// Guard returns the fencing check for the writer's cow view: it returns
// an error wrapping ErrFenced unless this node is the writer of the newest
// committed epoch, the fence delay has passed since that epoch applied
// here (Storage.BecomeWriter is called right after), this node is the
// Raft leader and its writer lease (a quorum confirmed its
// leadership less than WriterLease ago) is valid. While the lease runs
// (the lease loop renews it every WriterLease/4) it does no I/O; when the
// lease has lapsed but this node still leads and writes, it runs one
// quorum round itself (bounded by WriterLease and ctx) and passes if
// that renews the lease, so that a slow round on a loaded machine delays
// a mutation instead of failing it.
//
// The result is a plain func so that it assigns to cow.Guard (and
// cow.Options.Guard) without raftcluster depending on cow's
// implementation.
func (n *Node) Guard() func(ctx context.Context) error {
	return func(ctx context.Context) error {
		e := n.writerEpoch.Load()
		if e == 0 {
			return &OpError{Op: "guard", Err: fmt.Errorf("%w: not the writer", ErrFenced)}
		}
		w, epoch := n.fsm.writer()
		if w != n.id || epoch != e {
			return &OpError{Op: "guard", Err: fmt.Errorf("%w: epoch %d superseded by %d (%s)", ErrFenced, e, epoch, w)}
		}
		if n.raft.State() != raft.Leader {
			return &OpError{Op: "guard", Err: fmt.Errorf("%w: not the leader", ErrFenced)}
		}
		if n.leaseValid() {
			return nil
		}
		// Still the leader and the writer, but the lease lapsed (a slow
		// quorum round on a loaded machine): renew it once rather than
		// fail the mutation, then check everything again.
		if err := n.renewLease(ctx); err != nil || !n.leaseValid() {
			n.lease.guardRefusals.Add(1)
			return &OpError{Op: "guard", Err: fmt.Errorf("%w: writer lease lapsed", ErrFenced)}
		}
		n.lease.guardRenewals.Add(1)
		if w, epoch := n.fsm.writer(); w != n.id || epoch != e || n.writerEpoch.Load() != e || n.raft.State() != raft.Leader {
			return &OpError{Op: "guard", Err: fmt.Errorf("%w: epoch %d superseded by %d (%s)", ErrFenced, e, epoch, w)}
		}
		return nil
	}
}

// LeaseStats counts this node's writer-lease activity since it started.
type LeaseStats struct {
	// Renewals and Failures count quorum rounds (VerifyLeader) that did
	// and did not renew the lease, from every caller.
	Renewals, Failures int64
	// GuardRenewals counts Guard checks that found the lease lapsed and
	// renewed it themselves; GuardRefusals those that could not, and so
	// refused a mutation for a lapsed lease. On a healthy cluster both
	// stay near zero; a growing GuardRefusals says WriterLease is too
	// short for this machine's load.
	GuardRenewals, GuardRefusals int64
}

// LeaseStats returns the writer-lease counters.
func (n *Node) LeaseStats() LeaseStats {
	return LeaseStats{Renewals: n.lease.renewals.Load(), Failures: n.lease.failures.Load(),
		GuardRenewals: n.lease.guardRenewals.Load(), GuardRefusals: n.lease.guardRefusals.Load()}
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
