package raftcluster

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// snapshotForJoin takes a Raft snapshot on the leader before it adds a
// member, so that the member receives the snapshot (the cluster state) and
// the entries after it rather than the log since the last periodic
// snapshot. Best effort: a snapshot that is deferred (CompactableIndex
// behind) or finds nothing new leaves the log as it is, and the member
// gets the log from the last snapshot on.
func (n *Node) snapshotForJoin(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.Timeouts.Heartbeat)
	defer cancel()
	err := n.await(ctx, n.raft.Snapshot())
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		n.log.Debug("raftcluster: snapshot before join", "err", err)
	}
}
