package raftcluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrNoCandidate reports a HandOver with no other live voter to take
// leadership.
var ErrNoCandidate = errors.New("raftcluster: no other live voter to hand leadership to")

// HandOver transfers Raft leadership, and with it the writer role, from
// this node (the leader) to the live voter with the smallest reported
// overlay (the choice of a failover, see Writer choice in doc.go), and
// returns its ID. The application calls it when this node cannot do the
// writer's work (its applies keep failing) and another member might;
// reason goes to the log. It fails with a *NotLeaderError if this node
// does not lead, and with ErrNoCandidate if no other voter is live.
func (n *Node) HandOver(ctx context.Context, reason string) (string, error) {
	if n.raft.State() != raft.Leader {
		id, addr := n.Leader()
		return "", &NotLeaderError{Op: "hand over", LeaderID: id, LeaderAddr: addr}
	}
	c, ok := n.preferredWriter(n.fsm.state(), n.id)
	if !ok {
		return "", &OpError{Op: "hand over", Err: ErrNoCandidate}
	}
	n.log.Warn("raftcluster: handing leadership over", "to", c.ID, "reason", reason)
	if err := n.await(ctx, n.raft.LeadershipTransferToServer(raft.ServerID(c.ID), raft.ServerAddress(c.RaftAddr))); err != nil {
		return "", &OpError{Op: "hand over", Err: fmt.Errorf("to %s: %w", c.ID, err)}
	}
	return c.ID, nil
}
