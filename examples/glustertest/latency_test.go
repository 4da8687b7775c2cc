package glustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// latencies are durations measured one by one.
type latencies []time.Duration

func (l latencies) pct(p int) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// fsyncLatencies writes a 4 KiB block at a random offset of a 1 MiB file
// through fsys and times each fsync, n times.
func fsyncLatencies(t *testing.T, fsys vfs.FS, n int) latencies {
	t.Helper()
	f, err := fsys.Open("fsync", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, blockSize)
	rng := rand.New(rand.NewPCG(1, 2))
	var out latencies
	for range n {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, rng.Int64N(256)*blockSize); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// roundLatencies joins a copier view on copierFS to a writer view on
// writerFS (a file of n blocks written and synced first) and times n
// stability rounds of one block each (cow.Direct: the copier's Preserve,
// which reads the block through its mount into its overlay); then it
// times 2n random block reads through the copier (from shared storage:
// blocks it has not preserved).
func roundLatencies(t *testing.T, writerFS, copierFS vfs.FS, n int) (rounds, reads latencies) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := cow.Options{BlockSize: blockSize}
	copier, err := cow.NewCopier(copierFS, opts)
	if err != nil {
		t.Fatal(err)
	}
	local := cow.NewDirect(copier)
	writer, err := cow.NewWriter(writerFS, local, opts)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, blockSize)
	for _, name := range []string{"r", "g"} {
		f, err := writer.Open(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := f.WriteAt(buf, int64(i)*blockSize); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := copier.Reset(ctx, writer); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		start := time.Now()
		if err := local.Stabilize(ctx, []cow.Region{{Kind: cow.KindBlocks, Path: "r", Off: int64(i) * blockSize, Len: blockSize}}); err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, time.Since(start))
	}
	cf, err := copier.Open("g", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2 * n {
		start := time.Now()
		if _, err := cf.ReadAt(buf, rng.Int64N(int64(n))*blockSize); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, time.Since(start))
	}
	return rounds, reads
}

// TestMeasure_latency measures, in one run, fsync latency and stability
// round latency on GlusterFS mounts (default and coherent options) ÷ on a
// local directory, and the cost of reading past the page cache on the
// default mounts (vfs.OSOptions.DropCacheOnOpen, as serve does on a
// network mount, and DropCache) ÷ plain reads there. Runs with -measure;
// it only reports.
func TestMeasure_latency(t *testing.T) {
	if !*measure {
		t.Skip("run with -measure")
	}
	def := gluster.Start(t, gluster.Options{Mounts: 2})
	coh := gluster.Start(t, gluster.Options{Mounts: 2, Coherent: true})
	local := t.TempDir()
	n := 0
	dirs := func(root0, root1 string) (string, string) {
		n++
		name := fmt.Sprint("lat", n)
		if err := os.Mkdir(filepath.Join(root0, name), 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(root0, name), filepath.Join(root1, name)
	}
	type row struct {
		name         string
		root0, root1 string
		copier       vfs.OSOptions
	}
	rows := []row{
		{"local", local, local, vfs.OSOptions{}},
		{"gluster_default", def.Mounts[0], def.Mounts[1], vfs.OSOptions{}},
		{"gluster_default_dropcacheonopen", def.Mounts[0], def.Mounts[1], vfs.OSOptions{DropCacheOnOpen: true}},
		{"gluster_default_dropcache", def.Mounts[0], def.Mounts[1], vfs.OSOptions{DropCache: true}},
		{"gluster_coherent", coh.Mounts[0], coh.Mounts[1], vfs.OSOptions{DropCacheOnOpen: true}},
	}
	const k = 200
	var base [3]time.Duration
	for i, r := range rows {
		d0, d1 := dirs(r.root0, r.root1)
		fs := fsyncLatencies(t, vfs.OS(d0), k/2)
		rounds, reads := roundLatencies(t, vfs.OS(d0), vfs.OSWithOptions(d1, r.copier), k)
		med := [3]time.Duration{fs.pct(50), rounds.pct(50), reads.pct(50)}
		if i == 0 {
			base = med
		}
		t.Logf("MEASURE %-32s fsync p50 %8v (ratio %6.1f) p90 %8v | stability round p50 %8v (ratio %6.1f) p90 %8v | copier 4 KiB read p50 %8v (ratio %6.1f) p90 %8v",
			r.name, med[0], float64(med[0])/float64(base[0]), fs.pct(90), med[1], float64(med[1])/float64(base[1]), rounds.pct(90),
			med[2], float64(med[2])/float64(base[2]), reads.pct(90))
	}
}
