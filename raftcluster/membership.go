package raftcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// lockMembers takes memberOps, or fails when ctx ends first.
func (n *Node) lockMembers(ctx context.Context) error {
	select {
	case n.memberOps <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raftcluster: waiting for another membership change (nothing submitted): %w", ctx.Err())
	}
}

func (n *Node) unlockMembers() { <-n.memberOps }

// maxRedirects bounds how many NotLeader redirects a forwarded request
// follows.
const maxRedirects = 5

// Join adds a member: it records it in the cluster state, then adds it to
// Raft as a non-voter (the leader promotes it later). It must run on the
// leader (a *NotLeaderError otherwise) and is idempotent for the same
// addresses.
func (n *Node) Join(ctx context.Context, id, raftAddr, stabilityAddr string) error {
	if id == "" || raftAddr == "" || len(id) > maxStringLen || len(raftAddr) > maxStringLen || len(stabilityAddr) > maxStringLen {
		return &OpError{Op: "join", Err: fmt.Errorf("%w: bad member ID or address", ErrInvalidConfig)}
	}
	if err := n.lockMembers(ctx); err != nil {
		return opErr("join", err)
	}
	defer n.unlockMembers()
	if _, err := n.applyControl(ctx, command{Kind: kindAddMember, ID: id, RaftAddr: raftAddr, StabilityAddr: stabilityAddr}); err != nil {
		return opErr("join", err)
	}
	n.snapshotForJoin(ctx)
	f := n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.ctxTimeout(ctx))
	return opErr("join", n.await(ctx, f))
}

// RequestJoin asks the cluster that a member at via belongs to to add this
// node (via may be any member: redirects to the leader are followed). It
// returns once the leader has added it. While the cluster has no leader
// (an election is running), or when the leader lost leadership while
// committing the join (ErrOutcomeUnknown: Join is idempotent, so asking
// again is safe), it retries every Heartbeat/2 until ctx ends (ctx
// without a deadline: Timeouts.DefaultOp).
func (n *Node) RequestJoin(ctx context.Context, via string) error {
	c := command{Kind: kindAddMember, ID: n.id, RaftAddr: n.addr, StabilityAddr: n.cfg.StabilityAddr}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeouts.DefaultOp)
		defer cancel()
	}
	for {
		err := n.forwardTo(ctx, via, c)
		var nl *NotLeaderError
		leaderless := errors.As(err, &nl) && nl.LeaderAddr == ""
		if !leaderless && !errors.Is(err, ErrOutcomeUnknown) {
			return opErr("request-join", err)
		}
		if perr := n.pauseRetry(ctx); perr != nil {
			return opErr("request-join", errors.Join(err, perr))
		}
	}
}

// pauseRetry waits Heartbeat/2 before a retry; it fails when ctx ends or
// the node shuts down first.
func (n *Node) pauseRetry(ctx context.Context) error {
	t := newTimer(n.cfg.Timeouts.Heartbeat / 2)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrShutdown
	}
}

// forwardTo sends c to addr and follows NotLeader redirects.
func (n *Node) forwardTo(ctx context.Context, addr string, c command) error {
	req := encodeCommand(c)
	for range maxRedirects {
		if addr == "" {
			return n.notLeader(c.Kind.String())
		}
		if addr == n.addr {
			return n.handleLocal(ctx, c)
		}
		b, err := n.trans.forward(ctx, addr, req)
		if err != nil {
			return err
		}
		err = decodeReply(c.Kind.String(), b)
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.LeaderAddr != "" && nl.LeaderAddr != addr {
			addr = nl.LeaderAddr
			continue
		}
		return err
	}
	return n.notLeader(c.Kind.String())
}

// toLeader runs c on the leader, locally or forwarded.
func (n *Node) toLeader(ctx context.Context, c command) error {
	if n.raft.State() == raft.Leader {
		return n.handleLocal(ctx, c)
	}
	_, addr := n.Leader()
	return n.forwardTo(ctx, addr, c)
}

// handleForward serves a request forwarded by another member, whose
// certificate names caller ("" on a transport without authentication).
// Every forwardable command is about its sender: a member joins, leaves,
// reports and checks its membership only as itself (adding or removing
// another member is an operator's act, through Join and Remove on the
// leader).
func (n *Node) handleForward(ctx context.Context, caller string, req []byte) ([]byte, error) {
	c, err := decodeCommand(req)
	if err != nil {
		return encodeReply(err), nil
	}
	if caller != "" && c.ID != caller {
		const msg = "raftcluster: refused a request about another member"
		if ok, left := n.refusals.allow(msg, []any{"peer", caller}); ok {
			n.log.Warn(msg, "kind", c.Kind, "member", c.ID, "caller", caller, "suppressed", left)
		}
		return encodeReply(fmt.Errorf("%w: %s for member %q from the certificate of %q", ErrIdentity, c.Kind, c.ID, caller)), nil
	}
	if c.Kind == kindCommitIndex {
		return n.replyCommitIndex(ctx), nil
	}
	return encodeReply(n.handleLocal(ctx, c)), nil
}

// memberAt names the member of the latest Raft configuration at Raft
// address addr ("" if none).
func (n *Node) memberAt(addr string) string {
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if string(s.Address) == addr {
			return string(s.ID)
		}
	}
	return ""
}

// handleLocal runs a forwardable control command on this node, which must
// be the leader.
func (n *Node) handleLocal(ctx context.Context, c command) error {
	if n.isShut() {
		return ErrShutdown
	}
	if c.Kind == kindPing {
		return nil
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader(c.Kind.String())
	}
	switch c.Kind {
	case kindCheckMember:
		// The leader's state holds every committed entry once it has
		// completed its barrier in this term.
		if n.barrierTerm.Load() != n.raft.CurrentTerm() {
			if err := n.Barrier(ctx); err != nil {
				return err
			}
		}
		if _, ok := n.State().Member(c.ID); !ok {
			return fmt.Errorf("%w: %q is not a member of the cluster", ErrUnknownMember, c.ID)
		}
		return nil
	case kindAddMember:
		return n.Join(ctx, c.ID, c.RaftAddr, c.StabilityAddr)
	case kindRemoveMember:
		return n.remove(ctx, c.ID)
	case kindReportOverlay, kindResetDone, kindRejoin:
		_, err := n.applyControl(ctx, c)
		return err
	}
	return fmt.Errorf("%w: %s cannot be forwarded", ErrBadCommand, c.Kind)
}

// remove deletes a member from the cluster state, then from Raft.
func (n *Node) remove(ctx context.Context, id string) error {
	if err := n.lockMembers(ctx); err != nil {
		return err
	}
	defer n.unlockMembers()
	if _, err := n.applyControl(ctx, command{Kind: kindRemoveMember, ID: id}); err != nil && !errors.Is(err, ErrUnknownMember) {
		return err
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, n.ctxTimeout(ctx))
	return n.await(ctx, f)
}

// Remove removes another member (for an operator retiring a dead node).
// Leader only.
func (n *Node) Remove(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader("remove")
	}
	return opErr("remove", n.remove(ctx, id))
}

// Leave removes this node from the cluster state and from Raft. A leader
// first hands leadership to the voter with the smallest reported overlay
// (the cheapest to promote to writer, as the paper suggests); if that
// fails, it removes itself and Raft elects another leader. Call Shutdown
// afterwards.
func (n *Node) Leave(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		if target, ok := n.preferredWriter(n.State(), n.id); ok {
			f := n.raft.LeadershipTransferToServer(raft.ServerID(target.ID), raft.ServerAddress(target.RaftAddr))
			if err := n.await(ctx, f); err != nil {
				n.log.Warn("raftcluster: leadership transfer before leave failed; removing self as leader", "err", err)
			}
		}
	}
	var err error
	for range maxRedirects {
		err = n.toLeader(ctx, command{Kind: kindRemoveMember, ID: n.id})
		if !errors.Is(err, ErrNotLeader) {
			break
		}
		// Leadership moved under us (or the transfer is settling): wait
		// for the next applied entry or a short while, then retry.
		if werr := n.waitLeaderKnown(ctx); werr != nil {
			return opErr("leave", errors.Join(err, werr))
		}
	}
	return opErr("leave", err)
}

func (n *Node) waitLeaderKnown(ctx context.Context) error {
	t := n.cfg.Timeouts.Heartbeat
	for range 50 {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		cur, ch := n.fsm.appliedChan()
		_ = cur
		tm := newTimer(t / 4)
		select {
		case <-ch:
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		}
		tm.Stop()
	}
	return fmt.Errorf("no leader known")
}

// Exclude records that the writer no longer waits for member id in the
// current epoch (the stability layer calls it once the copier's lease has
// lapsed). The member must reset and rejoin before it serves again.
// Leader only; the writer cannot be excluded.
func (n *Node) Exclude(ctx context.Context, id string) error {
	_, epoch := n.fsm.writer()
	_, err := n.applyControl(ctx, command{Kind: kindExclude, ID: id, Epoch: epoch})
	return opErr("exclude", err)
}

// reconcileConfig makes Raft's configuration follow the cluster state,
// promotes caught-up reachable non-voters while fewer than MaxVoters
// voters are live, and demotes voters not heard from for DeadVoterAfter
// (reachability is observed contact, see Contact).
func (n *Node) reconcileConfig(ctx context.Context, st State) {
	if n.lockMembers(ctx) != nil {
		return
	}
	defer n.unlockMembers()
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
	failing := n.unreachable()
	var dead []string
	if n.cfg.DeadVoterAfter > 0 {
		now := time.Now()
		for id, since := range failing {
			if s, ok := servers[id]; ok && s.Suffrage == raft.Voter && id != n.id && now.Sub(since) >= n.cfg.DeadVoterAfter {
				dead = append(dead, id)
			}
		}
	}
	slices.Sort(dead)
	if voters-len(dead) < n.cfg.MaxVoters {
		for _, m := range st.Members {
			s, ok := servers[m.ID]
			if _, down := failing[m.ID]; !ok || s.Suffrage == raft.Voter || m.Excluded || down || m.ReportedIndex < m.JoinIndex || m.ReportedIndex == 0 {
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

// CheckMembership asks the leader whether this node is a member of the
// cluster. A node restarted from its stores should: one that was removed
// while it was down is contacted by nobody and would otherwise wait
// forever. It returns nil when the leader lists this node, an error
// wrapping ErrUnknownMember when it does not (the node was removed: it
// must not serve, and may join again only as a new member, from empty
// stores), and otherwise, once ctx ends, the last error (no leader
// answered: the cluster may be restarting as well). The leader is asked
// at the address this node knows for it, else through each member of
// this node's Raft configuration in turn (redirects are followed), every
// Heartbeat/2 (ctx without a deadline: Timeouts.DefaultOp).
func (n *Node) CheckMembership(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeouts.DefaultOp)
		defer cancel()
	}
	c := command{Kind: kindCheckMember, ID: n.id}
	var last error
	for {
		var targets []string
		if n.raft.State() == raft.Leader {
			targets = []string{n.addr}
		} else {
			if _, addr := n.Leader(); addr != "" {
				targets = append(targets, addr)
			}
			for _, s := range n.raft.GetConfiguration().Configuration().Servers {
				if a := string(s.Address); string(s.ID) != n.id && !slices.Contains(targets, a) {
					targets = append(targets, a)
				}
			}
		}
		if len(targets) == 0 {
			last = fmt.Errorf("no member address known")
		}
		for _, a := range targets {
			err := n.forwardTo(ctx, a, c)
			if err == nil || errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrIdentity) {
				return opErr("check-membership", err)
			}
			last = err
		}
		if err := n.pauseRetry(ctx); err != nil {
			return opErr("check-membership", errors.Join(last, err))
		}
	}
}

// Ping checks that the member at Raft address addr answers (over the
// forwarding path, authenticated like Raft) and returns the round trip.
func (n *Node) Ping(ctx context.Context, addr string) (time.Duration, error) {
	start := time.Now()
	b, err := n.trans.forward(ctx, addr, encodeCommand(command{Kind: kindPing, ID: n.id}))
	if err == nil {
		err = decodeReply("ping", b)
	}
	return time.Since(start), opErr("ping", err)
}
