package raftcluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// TestSeed is testSeed for the external test package (one -seed flag per
// test binary).
var TestSeed = testSeed

// ExpireWriterLease makes n's writer lease lapse now, as a slow quorum
// round would.
func ExpireWriterLease(n *Node) {
	n.mu.Lock()
	n.mu.leaseUntil = time.Time{}
	n.mu.Unlock()
}

// GuardedEpoch runs n's Guard and returns the writer epoch it passed for.
func GuardedEpoch(ctx context.Context, n *Node) (uint64, error) {
	e := n.writerEpoch.Load()
	if err := n.Guard()(ctx); err != nil {
		return 0, err
	}
	if n.writerEpoch.Load() != e {
		return 0, errors.New("raftcluster: the writer epoch moved during the check")
	}
	return e, nil
}

// TransferLeadership makes leader n hand Raft leadership to member id at
// addr (a new term), as an operator's or the writer choice's transfer
// would.
func TransferLeadership(n *Node, id, addr string) error {
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
}

// RequestRemove asks the cluster, through the member at via, to remove
// member id: what Leave sends for the node itself, here for any member.
func RequestRemove(ctx context.Context, n *Node, via, id string) error {
	return n.forwardTo(ctx, via, command{Kind: kindRemoveMember, ID: id})
}

// OpenDiskStores opens the stores a node keeps in dir (benchmarks and
// tests of the log stores); close them last to first.
func OpenDiskStores(dir string, kind LogStoreKind) (*Stores, []io.Closer, error) {
	return openDiskStores(dir, kind, slog.New(slog.DiscardHandler))
}

// MapErr is n.mapErr: how n reports a hashicorp/raft error.
func MapErr(n *Node, err error) error { return n.mapErr(err) }
