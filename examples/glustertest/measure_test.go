package glustertest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var measure = flag.Bool("measure", false, "run TestMeasure_writeRatio (SQLite inserts/s on GlusterFS mounts vs a local directory)")

// insertRates returns SQLite's sequential (one transaction per row) and
// batched (100 rows per transaction) inserts per second on fsys.
func insertRates(t *testing.T, name string, fsys vfs.FS) (seq, batched float64) {
	t.Helper()
	if err := sqlitevfs.Register(name, fsys); err != nil {
		t.Fatal(err)
	}
	defer sqlitevfs.Unregister(name)
	db, err := sqlitevfs.OpenDB(name, "m.db", sqlitevfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"); err != nil {
		t.Fatal(err)
	}
	const seqRows, batches, perBatch = 200, 20, 100
	start := time.Now()
	for i := range seqRows {
		if _, err := db.Exec("INSERT INTO t(v) VALUES(randomblob(100))"); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	seq = seqRows / time.Since(start).Seconds()
	start = time.Now()
	for range batches {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range perBatch {
			if _, err := tx.Exec("INSERT INTO t(v) VALUES(randomblob(100))"); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	batched = batches * perBatch / time.Since(start).Seconds()
	return seq, batched
}

// TestMeasure_writeRatio measures gluster_write_ratio: SQLite inserts/s
// on a GlusterFS mount ÷ on a local directory, same run, for the default
// and the coherent options (and the coherent mount read through
// OSOptions.DropCache). Runs with -measure; it only reports.
func TestMeasure_writeRatio(t *testing.T) {
	if !*measure {
		t.Skip("run with -measure")
	}
	def := gluster.Start(t, gluster.Options{Mounts: 1})
	coh := gluster.Start(t, gluster.Options{Mounts: 1, Coherent: true})
	nocache := gluster.Start(t, gluster.Options{Mounts: 1, VolumeOptions: gluster.CoherentVolume,
		MountOptions: []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}})
	dir := func(root, name string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	type row struct {
		name string
		fs   vfs.FS
	}
	rows := []row{
		{"local", vfs.OS(dir(t.TempDir(), "db"))},
		{"gluster_default", vfs.OS(dir(def.Mounts[0], "db"))},
		{"gluster_coherent", vfs.OS(dir(coh.Mounts[0], "db"))},
		{"gluster_coherent_volume_page_cache_dropcache", vfs.OSWithOptions(dir(nocache.Mounts[0], "db"), vfs.OSOptions{DropCache: true})},
	}
	var baseSeq, baseBatch float64
	for i, r := range rows {
		seq, batch := insertRates(t, fmt.Sprint("measure-", i), r.fs)
		if i == 0 {
			baseSeq, baseBatch = seq, batch
		}
		t.Logf("MEASURE %-46s sequential %8.0f rows/s (ratio %.3f)  batched %8.0f rows/s (ratio %.3f)", r.name, seq, seq/baseSeq, batch, batch/baseBatch)
	}
}
