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
//
// Raft sends a new member the log from index 1 whenever the leader still
// holds entry 1, and only otherwise the latest snapshot: a log that was
// never compacted (it stays whole until it is TrailingLogs entries long)
// would go to the member entire. So once a snapshot covers it, entry 1 is
// dropped (dropFirstEntry); members that hold any entry past it still
// replicate from the log as before.
func (n *Node) snapshotForJoin(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.Timeouts.Heartbeat)
	defer cancel()
	err := n.await(ctx, n.raft.Snapshot())
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		n.log.Debug("raftcluster: snapshot before join", "err", err)
	}
	n.dropFirstEntry()
}

// dropFirstEntry deletes log entry 1 when the log still starts there and
// the latest snapshot covers it and CompactableIndex bounds snapshots:
// what Raft's own compaction deletes, one entry of it. Raft then sends a member whose log is empty (a new one)
// the snapshot and the entries after it. Best effort.
func (n *Node) dropFirstEntry() {
	if n.cfg.CompactableIndex == nil {
		// Nothing says the application can do without the entries a
		// snapshot covers (it catches up from shared storage only with
		// CompactableIndex and OnRestore): keep the log whole.
		return
	}
	first, err := n.stores.Log.FirstIndex()
	if err != nil || first != 1 {
		return
	}
	snaps, err := n.stores.Snap.List()
	if err != nil || len(snaps) == 0 || snaps[0].Index < first {
		return // no snapshot to send instead
	}
	if err := n.stores.Log.DeleteRange(first, first); err != nil {
		n.log.Debug("raftcluster: drop the first log entry before join", "err", err)
	}
}
