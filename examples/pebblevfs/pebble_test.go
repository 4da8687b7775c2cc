package pebblevfs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pvfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/pebblevfs"
)

func key(i int) []byte   { return fmt.Appendf(nil, "key%06d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "value-%d-%0128d", i, i) }

func open(t *testing.T, fsys pvfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{
		FS:                    fsys,
		MemTableSize:          256 << 10,
		L0CompactionThreshold: 2,
		Logger:                quietLogger{},
	})
	require.NoError(t, err)
	return db
}

// checkKeys asserts that db holds exactly keys [0, n), with key i's value
// unless i is deleted.
func checkKeys(t *testing.T, db *pebble.DB, n int, deleted func(int) bool) {
	t.Helper()
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	want := 0
	for it.First(); it.Valid(); it.Next() {
		for want < n && deleted(want) {
			want++
		}
		require.Less(t, want, n, "extra key %q", it.Key())
		require.Equal(t, string(key(want)), string(it.Key()))
		require.Equal(t, string(value(want)), string(it.Value()))
		want++
	}
	require.NoError(t, it.Close())
	for want < n && deleted(want) {
		want++
	}
	require.Equal(t, n, want, "keys missing from %d", want)
	require.NoError(t, db.CheckLevels(nil))
}

// TestPebble_lifecycle opens Pebble on each backend, writes, flushes,
// deletes, compacts, closes and reopens it, and checks every key and
// Pebble's own level checks each time.
func TestPebble_lifecycle(t *testing.T) {
	for name, newFS := range enginetest.Backends() {
		t.Run(name, func(t *testing.T) {
			fsys := pebblevfs.New(newFS(t))
			db := open(t, fsys)
			const n = 1200
			for i := range n {
				require.NoError(t, db.Set(key(i), value(i), pebble.Sync))
				if i == n/2 {
					require.NoError(t, db.Flush())
				}
			}
			deleted := func(i int) bool { return i%7 == 0 }
			b := db.NewBatch()
			for i := range n {
				if deleted(i) {
					require.NoError(t, b.Delete(key(i), nil))
				}
			}
			require.NoError(t, b.Commit(pebble.Sync))
			require.NoError(t, db.Flush())
			require.NoError(t, db.Compact(context.Background(), key(0), key(n), false))
			checkKeys(t, db, n, deleted)
			m := db.Metrics()
			require.Positive(t, m.Compact.Count, "no compaction ran")
			require.NoError(t, db.Close())

			db = open(t, fsys)
			checkKeys(t, db, n, deleted)
			require.NoError(t, db.Close())
		})
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
