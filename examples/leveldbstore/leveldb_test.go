package leveldbstore_test

import (
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/leveldbstore"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: random)")

func key(i int) []byte   { return fmt.Appendf(nil, "key%06d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "value-%d-%0128d", i, i) }

var syncWrite = &opt.WriteOptions{Sync: true}

// open opens goleveldb on dir "db" of fsys; the returned func closes both.
func open(t *testing.T, fsys vfs.FS) (*leveldb.DB, func()) {
	t.Helper()
	st, err := leveldbstore.New(fsys, "db")
	require.NoError(t, err)
	db, err := leveldb.Open(st, &opt.Options{WriteBuffer: 64 << 10, CompactionTableSize: 64 << 10})
	require.NoError(t, err)
	return db, func() {
		require.NoError(t, db.Close())
		require.NoError(t, st.Close())
	}
}

func checkKeys(t *testing.T, db *leveldb.DB, n int, deleted func(int) bool) {
	t.Helper()
	it := db.NewIterator(nil, nil)
	want := 0
	for it.Next() {
		for want < n && deleted(want) {
			want++
		}
		require.Less(t, want, n, "extra key %q", it.Key())
		require.Equal(t, string(key(want)), string(it.Key()))
		require.Equal(t, string(value(want)), string(it.Value()))
		want++
	}
	it.Release()
	require.NoError(t, it.Error())
	for want < n && deleted(want) {
		want++
	}
	require.Equal(t, n, want, "keys missing from %d", want)
}

// TestLevelDB_lifecycle runs goleveldb on each backend: writes (through
// several memtable flushes), deletes in a batch, a full compaction, a
// reopen.
func TestLevelDB_lifecycle(t *testing.T) {
	for name, newFS := range enginetest.Backends() {
		t.Run(name, func(t *testing.T) {
			fsys := newFS(t)
			db, closeDB := open(t, fsys)
			const n = 1200
			for i := range n {
				require.NoError(t, db.Put(key(i), value(i), syncWrite))
			}
			deleted := func(i int) bool { return i%7 == 0 }
			b := new(leveldb.Batch)
			for i := range n {
				if deleted(i) {
					b.Delete(key(i))
				}
			}
			require.NoError(t, db.Write(b, syncWrite))
			require.NoError(t, db.CompactRange(util.Range{}))
			checkKeys(t, db, n, deleted)
			var stats leveldb.DBStats
			require.NoError(t, db.Stats(&stats))
			below := 0
			for level, count := range stats.LevelTablesCounts {
				if level > 0 {
					below += count
				}
			}
			require.Positive(t, below, "nothing compacted below level 0")
			closeDB()

			db, closeDB = open(t, fsys)
			checkKeys(t, db, n, deleted)
			closeDB()
		})
	}
}

// TestLevelDB_crash crashes the memory FS under goleveldb at several points
// and checks that every clone opens with every write acknowledged with
// Sync. It fails if the Storage drops a Sync or a directory sync.
func TestLevelDB_crash(t *testing.T) {
	seed := int64(vfstest.Seed(t, *seedFlag))
	mem := vfs.NewMem()
	db, closeDB := open(t, mem)
	const n = 600
	for i := range n {
		require.NoError(t, db.Put(key(i), value(i), syncWrite))
		if i%150 != 149 {
			continue
		}
		clone := mem.CrashClone(vfs.CrashOptions{Seed: seed + int64(i), KeepUnsynced: 0.5})
		cdb, closeC := open(t, clone)
		for j := 0; j <= i; j++ {
			v, err := cdb.Get(key(j), nil)
			require.NoError(t, err, "crash after %d writes: key %d", i+1, j)
			require.Equal(t, string(value(j)), string(v))
		}
		closeC()
	}
	closeDB()
}
