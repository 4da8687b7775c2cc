package raftcluster_test

import "testing"

// TestNode_restartWholeCluster_disk kills every member and restarts it
// from its DataDir (raft-boltdb v1 log/stable store and file snapshots).
//
// boltdb/bolt v1.3.1, under raft-boltdb v1, cannot run under the race
// detector: its checkptr instrumentation throws "converted pointer
// straddles multiple allocations" in Bucket.write when raft.db's buckets
// are created, and in freelist.write and node.write on every commit of an
// existing file; no bolt option avoids those paths. So under -race this
// test runs itself in a child `go test` built without -race and asserts
// that the child ran it and it passed (restart_child_test.go).
func TestNode_restartWholeCluster_disk(t *testing.T) {
	if raceEnabled {
		runTestWithoutRace(t, "TestNode_restartWholeCluster_disk")
		return
	}
	testRestartWholeCluster(t, true)
}
