package sqlitevfs_test

import (
	"context"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// benchInserts runs b.N single-row autocommit INSERTs (one transaction
// each, TRUNCATE journal) on the database of registration name, with the
// given synchronous setting: FULL makes each commit durable, and the time
// is mostly fsync; OFF leaves the CPU cost of SQLite and the FS layers. With steady, the same rows were inserted and deleted
// before the timer starts, so the database and the journal already have
// every page the timed inserts touch. atStart, if not nil, runs right
// before the timer starts.
func benchInserts(b *testing.B, name, sync string, steady bool, atStart func()) {
	conn := openConn(b, name, "main.db", sqlitevfs.Config{Synchronous: sync})
	exec(b, conn, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	ins, _, err := conn.Prepare("INSERT INTO t(id, v) VALUES (?, zeroblob(100))")
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	insert := func(i int) {
		ins.BindInt64(1, int64(i))
		if err := ins.Exec(); err != nil {
			b.Fatal(err)
		}
	}
	if steady {
		for i := range b.N {
			insert(i)
		}
		exec(b, conn, "DELETE FROM t")
	}
	if atStart != nil {
		atStart()
	}
	b.ResetTimer()
	for i := range b.N {
		insert(i)
	}
	b.StopTimer()
}

// syncModes are the sub-benchmarks of every insert benchmark.
var syncModes = []string{"FULL", "OFF"}

func BenchmarkSQLite_Insert_OS(b *testing.B) {
	for _, sync := range syncModes {
		b.Run("sync="+sync, func(b *testing.B) {
			benchInserts(b, register(b, vfs.OS(b.TempDir())), sync, false, nil)
		})
	}
}

func BenchmarkSQLite_Insert_OS_Steady(b *testing.B) {
	for _, sync := range syncModes {
		b.Run("sync="+sync, func(b *testing.B) {
			benchInserts(b, register(b, vfs.OS(b.TempDir())), sync, true, nil)
		})
	}
}

// BenchmarkSQLite_Insert_Writer2Copiers_Steady: every page the inserts
// touch is already stable at both copiers; no stability round is needed.
func BenchmarkSQLite_Insert_Writer2Copiers_Steady(b *testing.B) {
	for _, sync := range syncModes {
		b.Run("sync="+sync, func(b *testing.B) { benchWriter(b, sync, "steady") })
	}
}

// BenchmarkSQLite_Insert_Writer2Copiers_FirstTouch: the pages exist, but
// both copiers have just reset, so the first write to each page waits for
// a round in which each copier copies the old block.
func BenchmarkSQLite_Insert_Writer2Copiers_FirstTouch(b *testing.B) {
	for _, sync := range syncModes {
		b.Run("sync="+sync, func(b *testing.B) { benchWriter(b, sync, "firsttouch") })
	}
}

// BenchmarkSQLite_Insert_Writer2Copiers_Append: a fresh table, so the
// database grows; each new page needs a round that preserves the old size.
func BenchmarkSQLite_Insert_Writer2Copiers_Append(b *testing.B) {
	for _, sync := range syncModes {
		b.Run("sync="+sync, func(b *testing.B) { benchWriter(b, sync, "append") })
	}
}

// benchWriter runs benchInserts on a writer view over a vfs.OS directory,
// with two copier views (no engine of their own) behind an in-process
// Local stabilizer, and reports the Stabilize calls and overlay bytes per
// insert.
func benchWriter(b *testing.B, sync, mode string) {
	shared := vfs.OS(b.TempDir())
	c1, err := cow.NewCopier(shared, cow.Options{})
	if err != nil {
		b.Fatal(err)
	}
	c2, err := cow.NewCopier(shared, cow.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := cow.NewWriter(shared, cow.NewDirect(c1, c2), cow.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var before cow.Stats
	benchInserts(b, register(b, w), sync, mode != "append", func() {
		if mode == "firsttouch" {
			for _, c := range []*cow.View{c1, c2} {
				if err := c.Reset(context.Background(), w); err != nil {
					b.Fatal(err)
				}
			}
		}
		before = w.Stats()
	})
	after := w.Stats()
	b.ReportMetric(float64(after.StabilizeCalls-before.StabilizeCalls)/float64(b.N), "stabilize/op")
	b.ReportMetric(float64(c1.Stats().OverlayBytes)/float64(b.N), "overlayB/op")
}
