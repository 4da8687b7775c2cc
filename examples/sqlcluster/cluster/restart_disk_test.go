package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// TestLocal_RestartAfterAbsence_diskLog is
// TestLocal_RestartAfterAbsence_shortTail with the Raft logs on disk in
// the default log store (raft-wal), as serve keeps them: once the
// leader's log is compacted past what the stopped member holds, its
// restart gets the cluster state and a short tail, not the log it missed.
// raft-wal kept serving compacted entries from its tail segment, and the
// leader sent them all (raftcluster's headedWAL refuses them).
func TestLocal_RestartAfterAbsence_diskLog(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := localcluster.Start(sctx, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess, Dir: t.TempDir(),
		Shared: vfs.NewMem(), Timeouts: testTimeouts()})
	must(t, err)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	loadEntries(t, ctx, c, "big", 50)
	w, victim := writerAndCopier(t, ctx, c)
	id := victim.ID()
	must(t, c.WaitFor(ctx, "copier applied", func() bool {
		return victim.Stats().AppliedIndex >= w.Raft().CommitIndex()
	}))
	held := victim.Raft().AppliedIndex()
	must(t, c.Kill(id))
	const n = 600
	loadEntries(t, ctx, c, "big", n)
	// The leader's periodic snapshot compacts its log past held.
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	must(t, c.WaitFor(wctx, "leader compaction", func() bool {
		l, err := c.Leader(wctx)
		if err != nil {
			return false
		}
		err = l.Raft().ReadLog(held+1, func(uint64, []byte) error { return errProbe })
		return errors.Is(err, raftcluster.ErrCompacted)
	}))
	// Under load the leader defers its periodic snapshot while its
	// database lags, leaving up to a snapshot interval's entries (about
	// 250 KiB here) after the latest one, which a restart receives too
	// (as TestLocal_RestartAfterAbsence_shortTail waits out with
	// waitSnapshotted, which needs in-memory stores): take the snapshot
	// now, so the bound measures what the restart ships, not the timing of
	// the snapshot schedule.
	must(t, c.Compact(ctx))
	back, err := c.Restart(ctx, id)
	must(t, err)
	moved := memberBytes(t, c, id)
	t.Logf("restart behind %d entries (~%d KiB): %d bytes moved", n, n*len(entryPad)>>10, moved)
	if moved > 160<<10 {
		t.Errorf("restart moved %d bytes, bound %d: the missed log was sent", moved, 160<<10)
	}
	if got := queryInt(t, ctx, back, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != n {
		t.Errorf("after the restart the member sees %d rows, want %d", got, n)
	}
	verifySame(t, ctx, c)
}
