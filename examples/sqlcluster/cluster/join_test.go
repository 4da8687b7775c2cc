package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/raftcluster"
)

// joinBytes fills a database of about rows*2 KiB with a few small log
// entries, compacts the log, adds a member and returns the bytes that
// crossed the transports while it joined, with the database size.
func joinBytes(t *testing.T, rows int) (moved, dbSize int64) {
	c := startTest(t, localcluster.Options{Nodes: 3, TrailingLogs: 16, SnapshotThreshold: 64})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS big(id INTEGER PRIMARY KEY, pad BLOB)"))
	for lo := 0; lo < rows; lo += 200 {
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO big SELECT value, zeroblob(2000) FROM generate_series(?, ?)", lo, min(lo+199, rows-1)))
	}
	// A log longer than TrailingLogs, so that compaction drops entries.
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS small(id INTEGER PRIMARY KEY)"))
	for i := range 40 {
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO small VALUES(?)", i))
	}
	if err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	// The database's own size: shared storage holds its WAL too (up to a
	// checkpoint's worth, more than the small database itself).
	size := queryInt(t, ctx, c.Nodes()[0], cluster.LevelLinearizable, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
	b0 := c.TransportBytes()
	n, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moved = c.TransportBytes() - b0
	// It joined after compaction: its log starts after the snapshot.
	if err := n.Raft().ReadLog(1, func(uint64, []byte) error { return nil }); !errors.Is(err, raftcluster.ErrCompacted) {
		t.Fatalf("joined node holds the log from index 1 (%v): no compaction happened", err)
	}
	if got := queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != int64(rows) {
		t.Fatalf("joined node sees %d rows, want %d", got, rows)
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" || len(rep.Checksums) != 4 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// A copier that resets after the compaction catches up too: the log
	// still holds what the shared database had not durably applied.
	w, _ := c.Writer(ctx)
	for _, cp := range c.Nodes() {
		if cp == w || cp == n {
			continue
		}
		// (Resets, not == 1: the default reset policy may have reset it
		// already, its overlay holding the whole load.)
		r0 := cp.Stats().Resets
		if err := cp.RequestReset(); err != nil {
			t.Fatal(err)
		}
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO small VALUES(1000)"))
		if err := c.WaitFor(ctx, "reset", func() bool { return cp.Stats().Resets > r0 }); err != nil {
			t.Fatal(err)
		}
		if got := queryInt(t, ctx, cp, cluster.LevelLinearizable, "SELECT count(*) FROM small"); got != 41 {
			t.Errorf("%s after reset: %d rows in small, want 41", cp.ID(), got)
		}
		break
	}
	if rep, err := c.Verify(ctx); err != nil || len(rep.Diverged) != 0 {
		t.Fatalf("verify after reset: %+v %v", rep, err)
	}
	t.Logf("rows %d: database %d bytes, join moved %d bytes", rows, size, moved)
	return moved, size
}

// TestLocal_AddNode_copiesNoDatabase: a member that joins after log
// compaction opens the shared database and replays the log tail; the
// bytes it moves do not grow with the database.
func TestLocal_AddNode_copiesNoDatabase(t *testing.T) {
	// Bound: 64 KiB of Raft and TLS overhead plus the log tail (at most
	// TrailingLogs+the entries since the snapshot, each well under 512 B).
	const bound = 64<<10 + 64*512
	smallMoved, smallDB := joinBytes(t, 250)
	bigMoved, bigDB := joinBytes(t, 2500)
	if bigDB < 8*smallDB {
		t.Fatalf("databases %d and %d bytes: not different enough to tell", smallDB, bigDB)
	}
	for _, m := range []int64{smallMoved, bigMoved} {
		if m > bound {
			t.Errorf("join moved %d bytes, bound %d", m, bound)
		}
	}
	if bigMoved > bigDB/8 {
		t.Errorf("join moved %d bytes for a %d-byte database", bigMoved, bigDB)
	}
}
