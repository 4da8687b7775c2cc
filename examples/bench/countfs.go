package main

import (
	"sync/atomic"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// ioCounter counts what reaches an FS: bytes written and sync calls
// (fsync, fdatasync and directory syncs). It is an errorfs.Injector that
// never fails anything, so withCounting is errorfs.WithErrors with it.
//
// Concurrency: safe for concurrent use (atomic counters).
type ioCounter struct {
	writes atomic.Int64 // WriteAt calls
	bytes  atomic.Int64 // bytes passed to WriteAt
	syncs  atomic.Int64 // Sync, SyncData and SyncDir calls
}

var _ errorfs.Injector = (*ioCounter)(nil)

func (c *ioCounter) MaybeError(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpWrite:
		c.writes.Add(1)
		c.bytes.Add(op.Len)
	case errorfs.OpSync, errorfs.OpSyncData, errorfs.OpSyncDir:
		c.syncs.Add(1)
	}
	return nil
}

// ioCount is a snapshot of an ioCounter.
type ioCount struct{ Writes, Bytes, Syncs int64 }

func (c *ioCounter) snapshot() ioCount {
	return ioCount{Writes: c.writes.Load(), Bytes: c.bytes.Load(), Syncs: c.syncs.Load()}
}

func (a ioCount) sub(b ioCount) ioCount {
	return ioCount{Writes: a.Writes - b.Writes, Bytes: a.Bytes - b.Bytes, Syncs: a.Syncs - b.Syncs}
}

func (a ioCount) add(b ioCount) ioCount {
	return ioCount{Writes: a.Writes + b.Writes, Bytes: a.Bytes + b.Bytes, Syncs: a.Syncs + b.Syncs}
}

// withCounting wraps inner so that every write and sync through it is
// counted.
func withCounting(inner vfs.FS) (vfs.FS, *ioCounter) {
	c := &ioCounter{}
	return errorfs.WithErrors(inner, c), c
}
