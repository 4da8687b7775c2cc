package glustertest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	return insertRatesN(t, name, fsys, 200, 20)
}

// insertRatesN is insertRates with seqRows sequential rows and batches
// batches of 100.
func insertRatesN(t *testing.T, name string, fsys vfs.FS, seqRows, batches int) (seq, batched float64) {
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
	const perBatch = 100
	start := time.Now()
	for i := range seqRows {
		if _, err := db.Exec("INSERT INTO t(v) VALUES(randomblob(100))"); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	seq = float64(seqRows) / time.Since(start).Seconds()
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
	batched = float64(batches*perBatch) / time.Since(start).Seconds()
	return seq, batched
}

// TestMeasure_writeRatio measures gluster_write_ratio: SQLite inserts/s
// on a GlusterFS mount ÷ on a local directory, same run, for the default
// and the coherent options, and the coherent volume options on a mount
// with the page cache, read through OSOptions.DropCache and
// DropCacheOnOpen (what serve does on a network mount). Runs with -measure; it only reports.
func TestMeasure_writeRatio(t *testing.T) {
	if !*measure {
		t.Skip("run with -measure")
	}
	def := gluster.Start(t, gluster.Options{Mounts: 1})
	coh := gluster.Start(t, gluster.Options{Mounts: 1, Coherent: true})
	nocache := gluster.Start(t, gluster.Options{Mounts: 1, VolumeOptions: gluster.CoherentVolume,
		MountOptions: []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}})
	type row struct {
		name string
		root string
		o    vfs.OSOptions
	}
	rows := []row{
		{"local", t.TempDir(), vfs.OSOptions{}},
		{"gluster_default", def.Mounts[0], vfs.OSOptions{}},
		{"gluster_coherent", coh.Mounts[0], vfs.OSOptions{}},
		{"gluster_coherent_volume_page_cache_dropcache", nocache.Mounts[0], vfs.OSOptions{DropCache: true}},
		{"gluster_coherent_volume_page_cache_dropcacheonopen", nocache.Mounts[0], vfs.OSOptions{DropCacheOnOpen: true}},
	}
	// Rounds through every row, each row's ratio taken against the local
	// directory of the same round (the machine's load drifts), and the
	// median over rounds reported.
	const rounds = 3
	seqR, batchR := make([][]float64, len(rows)), make([][]float64, len(rows))
	var localSeq, localBatch []float64
	for round := range rounds {
		var baseSeq, baseBatch float64
		for i, r := range rows {
			d := filepath.Join(r.root, fmt.Sprint("db", i, "-", round))
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			seq, batch := insertRates(t, fmt.Sprint("measure-", i, "-", round), vfs.OSWithOptions(d, r.o))
			if i == 0 {
				baseSeq, baseBatch = seq, batch
				localSeq, localBatch = append(localSeq, seq), append(localBatch, batch)
			}
			seqR[i], batchR[i] = append(seqR[i], seq/baseSeq), append(batchR[i], batch/baseBatch)
		}
	}
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	for i, r := range rows {
		t.Logf("MEASURE %-52s sequential ratio %.3f %v  batched ratio %.3f %v", r.name, med(seqR[i]), fmtRatios(seqR[i]), med(batchR[i]), fmtRatios(batchR[i]))
	}
	t.Logf("MEASURE local rows/s: sequential %v, batched %v", fmtRatios(localSeq), fmtRatios(localBatch))
}

func fmtRatios(x []float64) string {
	var b strings.Builder
	for i, v := range x {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.3g", v)
	}
	return "[" + b.String() + "]"
}
