package glustertest

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var dropEpoch = flag.Bool("dropepoch", false, "run TestDropOncePerGeneration (issue 17 item 3's design experiment)")

// epochDropFS emulates, below cow, a copier that drops a file's cached
// pages once per copier generation instead of at every open: the first
// read-only open of a name after NewEpoch goes through a vfs.OS with
// DropCacheOnOpen, later ones through a plain vfs.OS (the pages cached
// since the drop were read after the join, and a copier reads from shared
// storage only blocks unchanged since its join). NewEpoch must be called
// before each copier.Reset (the join, after which the first open of each
// name drops again). Safe for concurrent use.
type epochDropFS struct {
	*vfs.OSFS // plain
	drop      *vfs.OSFS
	mu        sync.Mutex
	dropped   map[string]bool
	never     bool // NewEpoch does nothing: a name's pages are dropped at its first open only
}

func newEpochDropFS(dir string) *epochDropFS {
	return &epochDropFS{OSFS: vfs.OS(dir), drop: vfs.OSWithOptions(dir, vfs.OSOptions{DropCacheOnOpen: true}), dropped: map[string]bool{}}
}

func (e *epochDropFS) NewEpoch() {
	if e.never {
		return
	}
	e.mu.Lock()
	clear(e.dropped)
	e.mu.Unlock()
}

func (e *epochDropFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	e.mu.Lock()
	first := !e.dropped[name]
	e.mu.Unlock()
	if !first {
		return e.OSFS.Open(name, flag, perm)
	}
	f, err := e.drop.Open(name, flag, perm)
	if err == nil {
		e.mu.Lock()
		e.dropped[name] = true
		e.mu.Unlock()
	}
	return f, err
}

// TestDropOncePerGeneration: the experiment behind the design in issue
// 17 item 3: on GlusterFS's default options, a copier that drops a file's
// pages once per generation (epochDropFS) reads no stale block over the
// cross-mount run's resets and restarts, and its stability round costs
// what a plain copier's does rather than a DropCacheOnOpen copier's.
// Dropping at a name's first open only, never again, reads stale blocks
// (so the drop per generation is needed). Runs with -dropepoch; it
// reports the latencies.
func TestDropOncePerGeneration(t *testing.T) {
	if !*dropEpoch {
		t.Skip("run with -dropepoch")
	}
	v := gluster.Start(t, gluster.Options{Mounts: 2})
	wrong, first := crossMountFS(t, v, 8, func(dir string) vfs.FS { return newEpochDropFS(dir) })
	t.Logf("DROPEPOCH cross-mount run, 8 generations: %d blocks read wrong %s", wrong, first)
	if wrong > 0 {
		t.Errorf("%d blocks read wrong, first: %s", wrong, first)
	}
	// Once per view (never again after the first open of a name) is not
	// enough: the pages cached in one generation serve the next.
	v2 := gluster.Start(t, gluster.Options{Mounts: 2})
	wrong, first = crossMountFS(t, v2, 8, func(dir string) vfs.FS { e := newEpochDropFS(dir); e.never = true; return e })
	t.Logf("DROPEPOCH cross-mount run, dropping at a name's first open only: %d blocks read wrong %s", wrong, first)
	if wrong == 0 {
		t.Errorf("dropping at a name's first open only read no stale block: the run does not see the hazard")
	}
	rows := []struct {
		name   string
		copier func(dir string) vfs.FS
	}{
		{"plain", func(dir string) vfs.FS { return vfs.OS(dir) }},
		{"DropCacheOnOpen", func(dir string) vfs.FS { return vfs.OSWithOptions(dir, vfs.OSOptions{DropCacheOnOpen: true}) }},
		{"once per generation", func(dir string) vfs.FS { return newEpochDropFS(dir) }},
	}
	const passes = 3
	res := make([][2][]float64, len(rows))
	for pass := range passes {
		for j := range rows {
			i := (j + pass) % len(rows)
			name := "lat" + string(rune('a'+pass)) + string(rune('a'+i))
			if err := os.Mkdir(filepath.Join(v.Mounts[0], name), 0o755); err != nil {
				t.Fatal(err)
			}
			rounds, reads := roundLatencies(t, vfs.OS(filepath.Join(v.Mounts[0], name)), rows[i].copier(filepath.Join(v.Mounts[1], name)), 100)
			res[i][0] = append(res[i][0], float64(rounds.pct(50)))
			res[i][1] = append(res[i][1], float64(reads.pct(50)))
		}
	}
	for i, r := range rows {
		var a, b []float64
		for p := range passes {
			a = append(a, res[i][0][p]/res[0][0][p])
			b = append(b, res[i][1][p]/res[0][1][p])
		}
		t.Logf("DROPEPOCH %-20s stability round p50 %v ratio to plain %v | copier read p50 %v ratio %v", r.name,
			time.Duration(res[i][0][0]), fmtRatios(a), time.Duration(res[i][1][0]), fmtRatios(b))
	}
}
