package raftcluster

import (
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
)

// headedWAL is raft-wal's log store with reads bounded by its head.
// raft-wal looks an index up in its tail segment first, and a head
// truncation (log compaction after a snapshot) that drops no whole
// segment leaves the compacted entries readable there: hashicorp/raft's
// leader, finding the entry a lagging member needs next, then sends it
// the whole log it missed (up to a 64 MiB segment) instead of the
// snapshot and the short tail after it. GetLog refuses, as
// raft.ErrLogNotFound, every index before FirstIndex, as raft-boltdb and
// raft.InmemStore do; every other method is raft-wal's (IsMonotonic
// included).
//
// Concurrency: as raftwal.WAL (safe for concurrent use).
type headedWAL struct{ *raftwal.WAL }

// GetLog implements raft.LogStore.
func (w headedWAL) GetLog(index uint64, log *raft.Log) error {
	first, err := w.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return w.WAL.GetLog(index, log)
}
