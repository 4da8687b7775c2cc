package raftcluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// replyIndex answers kindCommitIndex: payload the index (uvarint).
const replyIndex = 3

// LeaderCommitIndex returns the commit index of the node that believes it
// is the leader, as it knows it: every entry that leader acknowledged
// before it answered is at or below it. It is one small request over the
// forwarding path (or none on the leader), with no quorum round: a leader
// deposed without knowing it yet (for at most an election timeout) may
// answer an index that misses entries its successor acknowledged, as
// rqlite's weak reads may. A leader new in its term first commits an
// entry of its own (Barrier), so that its commit index covers its
// predecessors'. Redirects to the leader are followed; with no leader
// known it returns a *NotLeaderError. The caller must not hold up the
// FSM (Barrier waits for it).
func (n *Node) LeaderCommitIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderCommitIndex(ctx)
	}
	_, addr := n.Leader()
	req := encodeCommand(command{Kind: kindCommitIndex, ID: n.id})
	for range maxRedirects {
		if addr == "" {
			break
		}
		if addr == n.addr {
			return n.leaderCommitIndex(ctx)
		}
		b, err := n.trans.forward(ctx, addr, req)
		if err != nil {
			return 0, opErr("commit-index", err)
		}
		idx, err := decodeIndexReply(b)
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.LeaderAddr != "" && nl.LeaderAddr != addr {
			addr = nl.LeaderAddr
			continue
		}
		return idx, opErr("commit-index", err)
	}
	return 0, n.notLeader("commit-index")
}

// leaderCommitIndex is LeaderCommitIndex on the leader.
func (n *Node) leaderCommitIndex(ctx context.Context) (uint64, error) {
	if n.isShut() {
		return 0, ErrShutdown
	}
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader("commit-index")
	}
	if n.barrierTerm.Load() != n.raft.CurrentTerm() {
		if err := n.Barrier(ctx); err != nil {
			return 0, err
		}
	}
	return n.raft.CommitIndex(), nil
}

// replyCommitIndex answers a forwarded kindCommitIndex.
func (n *Node) replyCommitIndex(ctx context.Context) []byte {
	idx, err := n.leaderCommitIndex(ctx)
	if err != nil {
		return encodeReply(err)
	}
	return binary.AppendUvarint([]byte{replyIndex}, idx)
}

// decodeIndexReply decodes the reply to kindCommitIndex.
func decodeIndexReply(b []byte) (uint64, error) {
	if len(b) == 0 || b[0] != replyIndex {
		if err := decodeReply("commit-index", b); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: commit-index reply without an index", ErrBadCommand)
	}
	idx, k := binary.Uvarint(b[1:])
	if k <= 0 || k != len(b)-1 {
		return 0, fmt.Errorf("%w: malformed commit-index reply", ErrBadCommand)
	}
	return idx, nil
}

// LastContact returns when this node last heard from the leader (the zero
// time if never; not meaningful on the leader).
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }
