package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pvfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/leveldbstore"
	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
)

// Figure 13: LSM engines (Pebble, goleveldb) unmodified on a cow writer
// view. Both engines get a 256 KiB memtable, so that flushes and
// compactions run during the measured writes.

// lsmMemtable is both engines' memtable (write buffer) size.
const lsmMemtable = 256 << 10

// lsmDir is the database directory inside a view.
const lsmDir = "db"

// lsmDB is what the figure needs of an engine.
type lsmDB interface {
	set(key, val []byte, sync bool) error
	flush() error // the memtable to a table
	close() error
}

// lsmEngine opens one engine on plain files (its own OS code) or on a
// vfs.FS (through its adapter).
type lsmEngine struct {
	name      string
	openPlain func(dir string) (lsmDB, error)
	openOn    func(fsys vfs.FS) (lsmDB, error)
}

type pebbleDB struct{ db *pebble.DB }

func (p pebbleDB) set(k, v []byte, sync bool) error {
	if sync {
		return p.db.Set(k, v, pebble.Sync)
	}
	return p.db.Set(k, v, pebble.NoSync)
}
func (p pebbleDB) flush() error { return p.db.Flush() }
func (p pebbleDB) close() error { return p.db.Close() }

// quietPebble drops Pebble's log lines (Fatalf still panics, as Pebble
// expects).
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func openPebble(dir string, fsys pvfs.FS) (lsmDB, error) {
	db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: quietPebble{}, MemTableSize: lsmMemtable})
	if err != nil {
		return nil, err
	}
	return pebbleDB{db}, nil
}

type levelDB struct {
	db *leveldb.DB
	st storage.Storage
}

var levelSync = &opt.WriteOptions{Sync: true}

func (l levelDB) set(k, v []byte, sync bool) error {
	if sync {
		return l.db.Put(k, v, levelSync)
	}
	return l.db.Put(k, v, nil)
}

// flush compacts an empty range: goleveldb flushes its memtable first.
func (l levelDB) flush() error {
	return l.db.CompactRange(util.Range{Start: []byte{0}, Limit: []byte{0}})
}
func (l levelDB) close() error { return errors.Join(l.db.Close(), l.st.Close()) }

func openLevel(st storage.Storage) (lsmDB, error) {
	db, err := leveldb.Open(st, &opt.Options{WriteBuffer: lsmMemtable})
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return levelDB{db, st}, nil
}

var lsmEngines = []lsmEngine{
	{
		name:      "pebble",
		openPlain: func(dir string) (lsmDB, error) { return openPebble(dir, pvfs.Default) },
		openOn:    func(fsys vfs.FS) (lsmDB, error) { return openPebble(lsmDir, pebblevfs.New(fsys)) },
	},
	{
		name: "goleveldb",
		openPlain: func(dir string) (lsmDB, error) {
			st, err := storage.OpenFile(dir, false)
			if err != nil {
				return nil, err
			}
			return openLevel(st)
		},
		openOn: func(fsys vfs.FS) (lsmDB, error) {
			st, err := leveldbstore.New(fsys, lsmDir)
			if err != nil {
				return nil, err
			}
			return openLevel(st)
		},
	},
}

func figLSM(e *env) error {
	var errs []error
	for _, eng := range lsmEngines {
		if err := e.lsmWriterRatio(eng); err != nil {
			for _, k := range []string{eng.name + "_writer_ratio", eng.name + "_rounds_per_1k_writes"} {
				e.rep.NotMeasured(k, fmt.Sprintf("%s: %s", eng.name, firstLine(err)))
			}
			errs = append(errs, fmt.Errorf("%s writer ratio: %w", eng.name, err))
		}
	}
	for _, hold := range []bool{false, true} {
		key := "pebble_overlay_fraction"
		if hold {
			key += "_held"
		}
		if err := e.lsmOverlay(lsmEngines[0], key, hold); err != nil {
			e.rep.NotMeasured(key, firstLine(err))
			errs = append(errs, fmt.Errorf("pebble overlay (hold %v): %w", hold, err))
		}
	}
	return errors.Join(errs...)
}

// lsmKey is the key of write i of stream s.
func lsmKey(s string, i int) []byte { return fmt.Appendf(nil, "%s%09d", s, i) }

// lsmPreload writes n keys of 100 B without sync and flushes them.
func lsmPreload(db lsmDB, n int) error {
	val := make([]byte, 100)
	for i := range n {
		if err := db.set(lsmKey("pre", i), val, false); err != nil {
			return err
		}
	}
	return db.flush()
}

// lsmWriterRatio measures <engine>_writer_ratio and
// <engine>_rounds_per_1k_writes: the same preloaded database on plain
// files (the engine's own OS code), through the engine's adapter on
// vfs.OS (printed apart: it tells the adapter's cost from cow's), and on
// a writer view over a directory of the same disk with two copiers
// behind loopback gRPC (joined once the preload is flushed, as copiers
// reset onto a running database), then interleaved rounds of LSMWrites
// Set+Sync of 100 B each, the setups' order rotating every round. The
// copiers run no engine: their overlays hold the pre-images they
// preserved.
func (e *env) lsmWriterRatio(eng lsmEngine) error {
	var dirs [3]string
	for i, name := range []string{"plain", "adapter", "shared"} {
		var err error
		if dirs[i], err = e.subdir(eng.name + "-" + name); err != nil {
			return err
		}
	}
	g, err := e.newHCViews(vfs.OS(dirs[2]), 2)
	if err != nil {
		return err
	}
	setups := []struct {
		name  string
		open  func() (lsmDB, error)
		db    lsmDB
		rates []float64
	}{
		{name: "plain", open: func() (lsmDB, error) { return eng.openPlain(filepath.Join(dirs[0], lsmDir)) }},
		{name: "adapter", open: func() (lsmDB, error) { return eng.openOn(vfs.OS(dirs[1])) }},
		{name: "writer", open: func() (lsmDB, error) { return eng.openOn(g.writer.view) }},
	}
	const plainSetup, adapterSetup, writerSetup = 0, 1, 2
	for i := range setups {
		db, err := setups[i].open()
		if err != nil {
			return fmt.Errorf("bench: %s on %s: %w", eng.name, setups[i].name, err)
		}
		defer db.close()
		setups[i].db = db
		if err := lsmPreload(db, e.sc.LSMPreload); err != nil {
			return err
		}
	}
	if err := g.joinCopiers(); err != nil {
		return err
	}
	val := make([]byte, 100)
	var rounds int64
	for r := range e.sc.LSMRounds {
		for k := range setups {
			if err := e.ctx.Err(); err != nil {
				return err
			}
			s := &setups[(r+k)%len(setups)]
			before := g.writer.view.Stats().StabilizeCalls
			d, err := timeIt(func() error {
				for i := range e.sc.LSMWrites {
					if err := s.db.set(lsmKey("key", r*e.sc.LSMWrites+i), val, true); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("bench: %s on %s: %w", eng.name, s.name, err)
			}
			if s == &setups[writerSetup] {
				rounds += g.writer.view.Stats().StabilizeCalls - before
			}
			s.rates = append(s.rates, float64(e.sc.LSMWrites)/d.Seconds())
		}
	}
	plain, adapter, writer := median(setups[plainSetup].rates), median(setups[adapterSetup].rates), median(setups[writerSetup].rates)
	writes := e.sc.LSMRounds * e.sc.LSMWrites
	e.rep.Set(eng.name+"_writer_ratio", writer/plain)
	e.rep.Set(eng.name+"_rounds_per_1k_writes", float64(rounds)*1000/float64(writes))
	e.rep.Detail("fig13 %s: writes+sync/s plain %.0f, adapter on plain files %.0f, writer view with 2 copiers %.0f (medians of %d rounds of %d; writer ÷ adapter %.3f); %d stability rounds; copier overlay %d B",
		eng.name, plain, adapter, writer, e.sc.LSMRounds, e.sc.LSMWrites, writer/adapter, rounds, g.copiers[0].view.Stats().OverlayBytes)
	e.p.Printf("fig13 %s: writer ratio %.3f, %d rounds for %d writes", eng.name, writer/plain, rounds, writes)
	for _, n := range append([]*hcNode{g.writer}, g.copiers...) {
		if err := n.view.Check(); err != nil {
			return fmt.Errorf("bench: %s: view %s: %w", eng.name, n.id, err)
		}
	}
	return nil
}

// lsmOverlay measures pebble_overlay_fraction (hold false) or
// pebble_overlay_fraction_held (hold true, under key): a Pebble database
// of LSMOverlayWrites random keys (100 B values) over in-memory shared
// storage, a copier that joins then, and as many writes again over the
// same key space, flushed and compacted by Pebble as it goes; then the
// copier's overlay ÷ the database directory's size. The copier runs no
// engine, so its overlay holds only what it preserved: the tables and
// logs that existed at its join and that compactions removed or
// rewrote. Files the writer creates after the join cost the copier
// nothing (it preserved their absence). With hold, the writer has
// cow.Options.HoldRemoved: the tables it removes move to the holding
// area, where the copier reads them, instead of being copied into its
// overlay (no reset follows, so none is collected), and a file it renames
// is followed by the copier rather than copied (pebblevfs recycles a log
// in place only where no copier reads it). The database's size
// is the database directory as the writer view shows it; the rest of
// shared storage (the holding area) is reported apart.
func (e *env) lsmOverlay(eng lsmEngine, key string, hold bool) error {
	shared := vfs.NewMem()
	g, err := e.newHCViewsWith(shared, 1, cow.Options{HoldRemoved: hold})
	if err != nil {
		return err
	}
	db, err := eng.openOn(g.writer.view)
	if err != nil {
		return err
	}
	defer db.close()
	n := e.sc.LSMOverlayWrites
	rng := e.rng(13)
	val := make([]byte, 100)
	write := func(rng *rand.Rand) error {
		for range n {
			if err := db.set(lsmKey("k", rng.IntN(n)), val, false); err != nil {
				return err
			}
		}
		return db.flush()
	}
	if err := write(rng); err != nil {
		return err
	}
	if err := g.joinCopiers(); err != nil {
		return err
	}
	before := g.writer.view.Stats().StabilizeCalls
	start := time.Now()
	if err := write(rng); err != nil {
		return err
	}
	took := time.Since(start)
	// The database as the engine sees it: a holding area that cow may
	// keep on shared storage is no part of it, wherever it lives.
	dbSize, err := vfs.TreeSize(g.writer.view, lsmDir)
	if err != nil {
		return err
	}
	all, err := vfs.TreeSize(shared, ".")
	if err != nil {
		return err
	}
	overlay := g.copiers[0].view.Stats().OverlayBytes
	e.rep.Set(key, float64(overlay)/float64(dbSize))
	st := g.writer.view.Stats()
	e.rep.Detail("fig13 pebble overlay (HoldRemoved %v): %d writes after the join (%.1fs, %d stability rounds): copier overlay %d B, database %d B, shared storage outside it %d B (%d held files)",
		hold, n, took.Seconds(), st.StabilizeCalls-before, overlay, dbSize, all-dbSize, st.HeldFiles)
	e.p.Printf("fig13 pebble overlay (HoldRemoved %v): %.3f of the database", hold, float64(overlay)/float64(dbSize))
	return nil
}
