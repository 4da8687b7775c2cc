package glustertest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// sqlState is what a connection sees of table t: its integrity check,
// row count and the sum of v.
type sqlState struct {
	integrity string
	rows      int64
	sum       int64
}

func readState(t *testing.T, db *sql.DB) (sqlState, error) {
	t.Helper()
	var s sqlState
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&s.integrity); err != nil {
		return s, err
	}
	err := db.QueryRow("SELECT count(*), coalesce(sum(v), 0) FROM t").Scan(&s.rows, &s.sum)
	return s, err
}

// sqliteCrossMount runs SQLite on a cow writer view on mount 0 and reads
// it through a copier view on mount 1 (its shared storage opened with
// copierFS) over generations: in each, the writer inserts rows and
// updates every row (so pages the copier read in an earlier generation
// change), the copier must still see its generation's state, with an
// integrity check that passes; after a reset (every third generation a
// restart: a new copier view on the same mount) it must see the
// writer's. It returns the number of wrong reads and the first.
func sqliteCrossMount(t *testing.T, v *gluster.Volume, rounds int, copierFS func(dir string) vfs.FS) (wrong int, first string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(vfstest.Seed(t, *seed), 23))
	pair := newMountPair(t, v, "sql", copierFS)
	writer, copier := pair.writer, pair.copier
	name := func(p string) string { return fmt.Sprintf("%s-%p", p, t) }
	register := func(n string, fsys vfs.FS) {
		if err := sqlitevfs.Register(n, fsys); err != nil {
			t.Fatal(err)
		}
	}
	register(name("w"), writer)
	defer sqlitevfs.Unregister(name("w"))
	wdb, err := sqlitevfs.OpenDB(name("w"), "m.db", sqlitevfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer wdb.Close()
	exec := func(q string, args ...any) {
		if _, err := wdb.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, pad BLOB)")
	// The database keeps its size after the first fill: FUSE drops a
	// file's cached pages when it sees its size change, so only
	// same-size rewrites leave stale pages behind.
	fill := func() {
		tx, err := wdb.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range 300 {
			if _, err := tx.Exec("INSERT INTO t(v, pad) VALUES(?, randomblob(300))", rng.IntN(1000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	write := func() {
		exec("UPDATE t SET v = v + ?, pad = randomblob(300)", 1+rng.IntN(9))
	}
	fill()
	gen := 0
	var cdb *sql.DB
	open := func() {
		gen++
		n := name(fmt.Sprint("c", gen))
		register(n, copier)
		t.Cleanup(func() { sqlitevfs.Unregister(n) })
		if cdb, err = sqlitevfs.OpenDB(n, "m.db", sqlitevfs.Config{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, want sqlState) {
		got, err := readState(t, cdb)
		if err != nil || got != want {
			wrong++
			if first == "" {
				first = fmt.Sprintf("%s: copier reads %+v (%v), want %+v", when, got, err, want)
			}
		}
	}
	if err := copier.Reset(ctx, writer); err != nil { // join
		t.Fatal(err)
	}
	open()
	for g := 1; g <= rounds; g++ {
		snap, err := readState(t, wdb)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("generation %d, before the writer's writes", g), snap)
		write()
		check(fmt.Sprintf("generation %d, after the writer's writes", g), snap)
		if err := cdb.Close(); err != nil {
			t.Fatal(err)
		}
		if g%3 == 0 {
			pair.newCopier()
			copier = pair.copier
		}
		if err := copier.Reset(ctx, writer); err != nil {
			t.Fatal(err)
		}
		open()
		now, err := readState(t, wdb)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("generation %d, after the copier's reset or restart", g+1), now)
	}
	cdb.Close()
	return wrong, first
}

// pageCacheMount are the coherent volume options on mounts that keep the
// kernel page cache (no direct-io-mode=enable): what serve's self-check
// accepts when serve drops the page cache itself.
var pageCacheMount = gluster.Options{Mounts: 2, VolumeOptions: gluster.CoherentVolume,
	MountOptions: []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}}

// TestSQLite_crossMount: SQLite through a cow writer on one GlusterFS
// mount and a copier on another, with integrity checks, over resets and
// restarts, on mounts that keep the kernel page cache (the volume's
// caches off): a plain vfs.OS copier reads a stale database after a
// reset (pages its mount cached in an earlier generation); with
// DropCacheOnOpen (as serve opens -shared on a network mount) it reads
// right.
func TestSQLite_crossMount(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		v := gluster.Start(t, pageCacheMount)
		wrong, first := sqliteCrossMount(t, v, 4, func(dir string) vfs.FS { return vfs.OS(dir) })
		t.Logf("%d wrong reads, first: %s", wrong, first)
		if wrong == 0 {
			t.Fatal("the copier never read wrong: the test does not see the hazard")
		}
	})
	t.Run("DropCacheOnOpen", func(t *testing.T) {
		v := gluster.Start(t, pageCacheMount)
		if wrong, first := sqliteCrossMount(t, v, 4, func(dir string) vfs.FS {
			return vfs.OSWithOptions(dir, vfs.OSOptions{DropCacheOnOpen: true})
		}); wrong > 0 {
			t.Fatalf("%d wrong reads, first: %s", wrong, first)
		}
	})
}
