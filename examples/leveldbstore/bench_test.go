package leveldbstore_test

import (
	"fmt"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/leveldbstore"
	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkLevelDB_PutSync measures goleveldb Put with Sync on plain files
// (goleveldb's own file storage), through the Storage on vfs.OS, and on a
// cow writer view over vfs.OS with two copiers (overlays in memory). The
// writer reports stability rounds per 1,000 writes, and a copier's overlay
// (pre-images only: the copiers apply nothing) over the database's size:
//
//	go test ./examples/leveldbstore -run '^$' -bench PutSync -benchtime 2000x
func BenchmarkLevelDB_PutSync(b *testing.B) {
	run := func(b *testing.B, st storage.Storage, start func(*leveldb.DB), after func()) {
		db, err := leveldb.Open(st, &opt.Options{WriteBuffer: 256 << 10})
		if err != nil {
			b.Fatal(err)
		}
		val := make([]byte, 100)
		// The same start everywhere: 20,000 keys, flushed.
		for i := range 20000 {
			if err := db.Put(fmt.Appendf(nil, "pre%09d", i), val, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.CompactRange(util.Range{Start: []byte{0}, Limit: []byte{0}}); err != nil {
			b.Fatal(err)
		}
		if start != nil {
			start(db)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := db.Put(fmt.Appendf(nil, "key%09d", i), val, syncWrite); err != nil {
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
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	open := func(b *testing.B, fsys vfs.FS) storage.Storage {
		st, err := leveldbstore.New(fsys, "db")
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run("plain", func(b *testing.B) {
		st, err := storage.OpenFile(b.TempDir(), false)
		if err != nil {
			b.Fatal(err)
		}
		run(b, st, nil, nil)
	})
	b.Run("adapter", func(b *testing.B) { run(b, open(b, vfs.OS(b.TempDir())), nil, nil) })
	b.Run("writer2", func(b *testing.B) {
		shared := vfs.OS(b.TempDir())
		w, copiers := enginetest.ViewsOn(b, shared, 2)
		var before int64
		run(b, open(b, w), func(*leveldb.DB) {
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
