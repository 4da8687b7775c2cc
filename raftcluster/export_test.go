package raftcluster

import "time"

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
