package pebblevfs_test

import (
	"flag"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: random)")

// TestPebble_crash crashes the memory FS under Pebble at several points
// (each unsynced change surviving with probability one half) and checks
// that Pebble reopens on every clone with every write it acknowledged with
// Sync, and passes its level checks. It fails if the adapter drops a Sync
// or a directory sync.
func TestPebble_crash(t *testing.T) {
	seed := int64(vfstest.Seed(t, *seedFlag))
	mem := vfs.NewMem()
	db := open(t, pebblevfs.New(mem))
	const n = 600
	for i := range n {
		require.NoError(t, db.Set(key(i), value(i), pebble.Sync))
		if i%200 == 199 {
			require.NoError(t, db.Flush())
		}
		if i%150 != 149 {
			continue
		}
		clone := mem.CrashClone(vfs.CrashOptions{Seed: seed + int64(i), KeepUnsynced: 0.5})
		cdb := open(t, pebblevfs.New(clone))
		for j := 0; j <= i; j++ {
			v, closer, err := cdb.Get(key(j))
			require.NoError(t, err, "crash after %d writes: key %d", i+1, j)
			require.Equal(t, string(value(j)), string(v))
			require.NoError(t, closer.Close())
		}
		require.NoError(t, cdb.CheckLevels(nil))
		require.NoError(t, cdb.Close())
	}
	require.NoError(t, db.Close())
}
