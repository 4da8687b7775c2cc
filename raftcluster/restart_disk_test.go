//go:build !race

package raftcluster_test

import "testing"

// boltdb/bolt v1.3.1 (under raft-boltdb v1) trips the race detector's
// checkptr instrumentation ("converted pointer straddles multiple
// allocations") when it creates its buckets, so this test runs only
// without -race; TestNode_restartWholeCluster_memStores covers the same
// flow under -race.
func TestNode_restartWholeCluster_disk(t *testing.T) { testRestartWholeCluster(t, true) }
