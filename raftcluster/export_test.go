package raftcluster

import (
	"io"
	"log/slog"
	"time"
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

// OpenDiskStores opens the stores a node keeps in dir (benchmarks and
// tests of the log stores); close them last to first.
func OpenDiskStores(dir string, kind LogStoreKind) (*Stores, []io.Closer, error) {
	return openDiskStores(dir, kind, slog.New(slog.DiscardHandler))
}
