package leveldbstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/holeycow/holeycow/examples/enginetest"
	"github.com/holeycow/holeycow/examples/leveldbstore"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// levelEngine is goleveldb as an enginetest.Engine.
type levelEngine struct {
	db *leveldb.DB
	st storage.Storage
}

// crossOptions: small tables, so that compactions run often, and no block
// cache, so that every read reaches the files (a copier reading a table
// the writer removed reads it from the holding area, not from memory).
var crossOptions = &opt.Options{WriteBuffer: 32 << 10, CompactionTableSize: 32 << 10, BlockCacheCapacity: -1}

func openEngine(tb testing.TB, fsys vfs.FS) enginetest.Engine {
	st, err := leveldbstore.New(fsys, "db")
	require.NoError(tb, err)
	db, err := leveldb.Open(st, crossOptions)
	require.NoError(tb, err)
	return levelEngine{db, st}
}

// openPlain opens goleveldb on dir through its own file storage.
func openPlain(tb testing.TB, dir string) enginetest.Engine {
	st, err := storage.OpenFile(dir, false)
	require.NoError(tb, err)
	db, err := leveldb.Open(st, crossOptions)
	require.NoError(tb, err)
	return levelEngine{db, st}
}

func (e levelEngine) Write(ops []enginetest.Op) error {
	b := new(leveldb.Batch)
	for _, o := range ops {
		if o.Delete {
			b.Delete([]byte(o.Key))
		} else {
			b.Put([]byte(o.Key), []byte(o.Value))
		}
	}
	return e.db.Write(b, syncWrite)
}

// Flush: goleveldb has no flush of its own; compacting an empty range
// flushes the memory table first.
func (e levelEngine) Flush() error {
	return e.db.CompactRange(util.Range{Start: []byte{0}, Limit: []byte{0}})
}
func (e levelEngine) Compact() error { return e.db.CompactRange(util.Range{}) }

// Check: goleveldb exposes no consistency check beyond reading; a full
// iteration with checksums verified (opt.Strict below) is it.
func (e levelEngine) Check() error {
	it := e.db.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	for it.Next() {
	}
	it.Release()
	return it.Error()
}

func (e levelEngine) Close() error {
	err := e.db.Close()
	if serr := e.st.Close(); err == nil {
		err = serr
	}
	return err
}

func (e levelEngine) Contents() (map[string]string, error) {
	it := e.db.NewIterator(nil, nil)
	out := map[string]string{}
	for it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	it.Release()
	return out, it.Error()
}

// TestLevelDB_crossCheck: goleveldb on a cow writer view and two copiers,
// with a copier reset and a promotion, reads what goleveldb on plain files
// reads.
func TestLevelDB_crossCheck(t *testing.T) {
	enginetest.CrossCheck(t, openPlain, openEngine, vfstest.Seed(t, *seedFlag), 300)
}
