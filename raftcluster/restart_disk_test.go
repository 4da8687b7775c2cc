package raftcluster_test

import (
	"testing"

	"github.com/holeycow/holeycow/raftcluster"
)

// TestNode_restartWholeCluster_disk kills every member and restarts it
// from its DataDir, with each log store: raft-wal (the default) and
// raft-boltdb/v2 (bbolt) as the log store, raft-boltdb/v2 as the stable
// store, file snapshots. Both run under the race detector as they are
// (bbolt and raft-wal pass its checkptr checks, unlike boltdb/bolt).
func TestNode_restartWholeCluster_disk(t *testing.T) {
	for _, kind := range []raftcluster.LogStoreKind{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) { testRestartWholeCluster(t, true, kind) })
	}
}
