package raftcluster

import (
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

// TransferLeadership makes leader n hand Raft leadership to member id at
// addr (a new term), as an operator's or the writer choice's transfer
// would.
func TransferLeadership(n *Node, id, addr string) error {
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
}
