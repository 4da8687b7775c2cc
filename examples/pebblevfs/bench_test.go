package pebblevfs_test

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pvfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkPebble_SetSync measures Pebble Set+Sync on plain files
// (Pebble's own OS code), through the adapter on vfs.OS, and on a cow
// writer view over vfs.OS with two copiers (overlays in memory), with a
// 256 KiB memtable so that flushes and compactions run. The
// writer reports stability rounds per 1,000 writes, and a copier's overlay
// (pre-images only: the copiers apply nothing) over the database's size:
//
//	go test ./examples/pebblevfs -run '^$' -bench SetSync -benchtime 2000x
func BenchmarkPebble_SetSync(b *testing.B) {
	run := func(b *testing.B, dir string, fsys pvfs.FS, start func(*pebble.DB), after func()) {
		db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: quietLogger{}, MemTableSize: 256 << 10})
		if err != nil {
			b.Fatal(err)
		}
		val := make([]byte, 100)
		// The same start everywhere: 20,000 keys, flushed (so that Pebble
		// runs on a recycled WAL, as it does at steady state).
		for i := range 20000 {
			if err := db.Set(fmt.Appendf(nil, "pre%09d", i), val, pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		if start != nil {
			start(db)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := db.Set(fmt.Appendf(nil, "key%09d", i), val, pebble.Sync); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if after != nil {
			after()
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, b.TempDir(), pvfs.Default, nil, nil) })
	b.Run("adapter", func(b *testing.B) { run(b, "db", pebblevfs.New(vfs.OS(b.TempDir())), nil, nil) })
	b.Run("writer2", func(b *testing.B) {
		shared := vfs.OS(b.TempDir())
		w, copiers := enginetest.ViewsOn(b, shared, 2)
		var before int64
		run(b, "db", pebblevfs.New(w), func(*pebble.DB) {
			// The copiers reset onto the database as it starts.
			enginetest.ResetAll(b, w, copiers)
			before = w.Stats().StabilizeCalls
		}, func() {
			b.ReportMetric(float64(w.Stats().StabilizeCalls-before)*1000/float64(b.N), "rounds/1kwrites")
			if size, err := vfs.TreeSize(shared, "."); err == nil && size > 0 {
				b.ReportMetric(float64(copiers[0].Stats().OverlayBytes)/float64(size), "overlay/db")
			}
		})
	})
}
