package pebblevfs_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pvfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// pebbleEngine is Pebble as an enginetest.Engine.
type pebbleEngine struct{ db *pebble.DB }

func openEngine(tb testing.TB, fsys vfs.FS) enginetest.Engine {
	return openPebbleOn(tb, "db", pebblevfs.New(fsys))
}

// openPlain opens Pebble on dir through Pebble's own OS file system.
func openPlain(tb testing.TB, dir string) enginetest.Engine {
	return openPebbleOn(tb, dir, pvfs.Default)
}

// openPebbleOn opens Pebble with small memtables, so that flushes run
// often, compactions only when asked (the four engines of a cross-check
// then change their tables at the same steps: the writer removes tables
// right before copier 1's compaction reads them), and a block cache of
// zero bytes, so that every read reaches the files (a copier reading a
// table the writer removed reads it from the holding area, not from
// memory).
func openPebbleOn(tb testing.TB, dir string, fsys pvfs.FS) enginetest.Engine {
	cache := pebble.NewCache(0)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		FS:                    fsys,
		Cache:                 cache,
		MemTableSize:          64 << 10,
		L0CompactionThreshold: 2,
		Logger:                quietLogger{},

		DisableAutomaticCompactions: true,
	})
	require.NoError(tb, err)
	return pebbleEngine{db}
}

func (e pebbleEngine) Write(ops []enginetest.Op) error {
	b := e.db.NewBatch()
	defer b.Close()
	for _, o := range ops {
		var err error
		if o.Delete {
			err = b.Delete([]byte(o.Key), nil)
		} else {
			err = b.Set([]byte(o.Key), []byte(o.Value), nil)
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// Flush and Compact wait for Pebble's deletion of the files they made
// obsolete, which it does in the background: the writer's removes (and
// holds) then happen before the copiers' engines take the same step, which
// reads the tables the writer removed.
func (e pebbleEngine) Flush() error {
	err := e.db.Flush()
	e.db.TestOnlyWaitForCleaning()
	return err
}

func (e pebbleEngine) Compact() error {
	err := e.db.Compact(context.Background(), []byte{0}, bytes.Repeat([]byte{0xff}, 8), false)
	e.db.TestOnlyWaitForCleaning()
	return err
}
func (e pebbleEngine) Check() error { return e.db.CheckLevels(nil) }
func (e pebbleEngine) Close() error { return e.db.Close() }

func (e pebbleEngine) Contents() (map[string]string, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	return out, it.Close()
}

// TestPebble_crossCheck: Pebble on a cow writer view and two copiers, with
// a copier reset and a promotion, reads what Pebble on plain files reads.
func TestPebble_crossCheck(t *testing.T) {
	enginetest.CrossCheck(t, openPlain, openEngine, vfstest.Seed(t, *seedFlag), 300)
}
