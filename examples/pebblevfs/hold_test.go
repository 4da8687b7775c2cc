package pebblevfs_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
)

var holdKeys = flag.Int("holdkeys", 8000, "TestPebble_holdRemoved: keys loaded, then overwritten")

// holdRun runs Pebble on a cow writer view (with hold set or not) and
// two copiers that apply nothing (a refresh copier's overlay: pre-images
// only): nKeys keys loaded and flushed, the copiers reset, then the same
// keys overwritten with a flush and a full compaction every quarter,
// which removes the tables the copiers read. It returns the copiers' overlay
// bytes and the database's size on shared storage, and checks that a
// copier still opens the database it reset onto and finds every key.
func holdRun(t *testing.T, hold bool, nKeys int) (overlay, size int64) {
	ctx := context.Background()
	shared := vfs.NewMem()
	opts := cow.Options{HoldRemoved: hold, HoldResets: 2}
	local := cow.NewDirect()
	var copiers []*cow.View
	for range 2 {
		c, err := cow.NewCopier(shared, opts)
		require.NoError(t, err)
		local.Add(c)
		copiers = append(copiers, c)
	}
	w, err := cow.NewWriter(shared, local, opts)
	require.NoError(t, err)
	db, err := pebble.Open("db", &pebble.Options{FS: pebblevfs.New(w), Logger: quietLogger{}, MemTableSize: 256 << 10, L0CompactionThreshold: 2})
	require.NoError(t, err)
	val := make([]byte, 100)
	val2 := bytes.Repeat([]byte{'n'}, 100)
	for i := range nKeys {
		require.NoError(t, db.Set(fmt.Appendf(nil, "pre%09d", i), val, pebble.NoSync))
	}
	require.NoError(t, db.Flush())
	for _, c := range copiers {
		require.NoError(t, c.Reset(ctx, w))
	}
	for i := range nKeys {
		require.NoError(t, db.Set(fmt.Appendf(nil, "pre%09d", (i*7919)%nKeys), val2, pebble.NoSync))
		if i%(nKeys/4) == nKeys/4-1 {
			require.NoError(t, db.Flush())
			require.NoError(t, db.Compact(ctx, []byte("a"), []byte("z"), true))
		}
	}
	require.NoError(t, db.Close())
	if hold {
		require.NotZero(t, w.Stats().HeldFiles, "the compactions removed tables the copiers read")
	}
	size, err = vfs.TreeSize(w, ".")
	require.NoError(t, err)
	for _, c := range copiers {
		overlay += c.Stats().OverlayBytes
	}
	// The copier's view is the database at its reset: Pebble opens it
	// (its recovery writes to the overlay) and finds the keys with their
	// first values, whatever the writer compacted away since.
	cdb, err := pebble.Open("db", &pebble.Options{FS: pebblevfs.New(copiers[0]), Logger: quietLogger{}})
	require.NoError(t, err)
	for i := 0; i < nKeys; i += 997 {
		got, closer, err := cdb.Get(fmt.Appendf(nil, "pre%09d", i))
		require.NoError(t, err, "key %d at the copier", i)
		require.Equal(t, val, got, "key %d at the copier", i)
		require.NoError(t, closer.Close())
	}
	require.NoError(t, cdb.Close())
	for _, v := range append([]*cow.View{w}, copiers...) {
		require.NoError(t, v.Check())
	}
	return overlay, size
}

// TestPebble_holdRemoved: with cow.Options.HoldRemoved, the tables that
// compactions remove stay in the holding area instead of being copied
// into every copier's overlay. Both settings run here, the same workload;
// the test logs the ratio of the copiers' overlays (a larger run:
// go test ./examples/pebblevfs -run holdRemoved -v -holdkeys 100000).
func TestPebble_holdRemoved(t *testing.T) {
	whole, size := holdRun(t, false, *holdKeys)
	held, heldSize := holdRun(t, true, *holdKeys)
	t.Logf("copier overlays after compactions: whole-file %d bytes, zero-copy %d bytes (ratio %.3f); database %d / %d bytes",
		whole, held, float64(held)/float64(whole), size, heldSize)
	// What is left with zero-copy is the log Pebble was writing when the
	// copiers reset: a recycled one, which it keeps overwriting in place,
	// so each copier preserves what it overwrites, up to the log's size
	// (the memtable's, 256 KiB here), plus a block or two of the
	// MANIFEST. Logs recycled later are new files to the copiers
	// (pebblevfs's ReuseForWrite), and renames copy nothing. It does not
	// grow with the database (-holdkeys 100000: the same bytes, a ratio of
	// about 0.13).
	require.LessOrEqual(t, held, int64(2*(256<<10+16<<10)), "at most one log per copier")
	require.Less(t, held, whole, "zero-copy removes must save overlay")
}
