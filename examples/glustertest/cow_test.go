package glustertest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var seed = flag.Uint64("seed", 0, "seed of the cross-mount runs (0: random)")

const (
	blockSize = 4096
	blocks    = 64
)

// crossMount runs a writer view on mount 0 and a copier view on mount 1
// of v over several copier generations: in each, the copier reads every
// block (so its mount caches them), the writer overwrites random blocks
// (each first overwrite preserved by the copier through a stability
// round), the copier checks that it still reads its generation's content,
// then resets (drops its overlay in the writer's reset handshake; every
// third generation it restarts instead: a new copier view on the same
// mount joins) and must read the writer's newest content. It returns the blocks the copier
// read wrong and a description of the first.
func crossMount(t *testing.T, v *gluster.Volume, rounds int) (wrong int, first string) {
	return crossMountFS(t, v, rounds, func(dir string) vfs.FS { return vfs.OS(dir) })
}

// crossMountFS is crossMount with the copier's shared storage opened by
// copierFS.
func crossMountFS(t *testing.T, v *gluster.Volume, rounds int, copierFS func(dir string) vfs.FS) (wrong int, first string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(vfstest.Seed(t, *seed), 17))
	pair := newMountPair(t, v, "db", copierFS)
	writer, copier, cfs := pair.writer, pair.copier, pair.cfs
	model := make([][]byte, blocks) // the writer's content, block by block
	wf, err := writer.Open("f", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	write := func(i, gen int) {
		unit := fmt.Sprintf("block %3d gen %4d|", i, gen)
		b := bytes.Repeat([]byte(unit), blockSize/len(unit)+1)[:blockSize]
		if _, err := wf.WriteAt(b, int64(i)*blockSize); err != nil {
			t.Fatal(err)
		}
		model[i] = b
	}
	for i := range blocks {
		write(i, 0)
	}
	if err := wf.Sync(); err != nil {
		t.Fatal(err)
	}
	newEpoch(cfs)
	if err := copier.Reset(ctx, writer); err != nil { // join
		t.Fatal(err)
	}
	cf, err := copier.Open("f", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cf.Close() }()
	check := func(when string, want [][]byte) {
		got := make([]byte, blockSize)
		for i := range blocks {
			if _, err := cf.ReadAt(got, int64(i)*blockSize); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[i]) {
				wrong++
				if first == "" {
					first = fmt.Sprintf("%s: block %d reads %q, want %q", when, i, got[:20], want[i][:20])
				}
			}
		}
	}
	for gen := 1; gen <= rounds; gen++ {
		snap := append([][]byte(nil), model...)
		check(fmt.Sprintf("generation %d, before the writer's writes", gen), snap)
		for range blocks / 4 {
			write(rng.IntN(blocks), gen)
		}
		check(fmt.Sprintf("generation %d, after the writer's writes", gen), snap)
		if gen%3 == 0 {
			// A restart: a new copier view on the same mount (whose
			// kernel cache outlives the process) joins.
			cf.Close()
			pair.newCopier()
			copier, cfs = pair.copier, pair.cfs
			newEpoch(cfs)
			if err := copier.Reset(ctx, writer); err != nil {
				t.Fatal(err)
			}
			if cf, err = copier.Open("f", os.O_RDONLY, 0); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("generation %d, after the copier's restart", gen+1), model)
			continue
		}
		newEpoch(cfs)
		if err := copier.Reset(ctx, writer); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("generation %d, after the copier's reset", gen+1), model)
	}
	return wrong, first
}

// TestCow_crossMount_coherent: with the coherent options, a copier on
// another mount reads its generation's content, and after a reset the
// writer's newest (invariants 1 and 5 across client caches).
func TestCow_crossMount_coherent(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 2, Coherent: true})
	if wrong, first := crossMount(t, v, 8); wrong > 0 {
		t.Fatalf("%d blocks read wrong, first: %s", wrong, first)
	}
}

// TestCow_crossMount_defaults: on GlusterFS's default options the same
// run reads blocks wrong (a page its mount cached in an earlier
// generation, served after the reset) through a plain vfs.OS: the hazard
// that the coherent options remove, and that the page-cache drop removes
// on the same mounts (TestCow_crossMount_defaultsFixed). This test fails
// when it no longer sees the hazard.
func TestCow_crossMount_defaults(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 2})
	wrong, first := crossMount(t, v, 8)
	t.Logf("%d blocks read wrong, first: %s", wrong, first)
	if wrong == 0 {
		t.Fatal("defaults: the copier never read a stale block")
	}
}

// TestCow_crossMount_dropCache: on mounts without direct-io-mode=enable
// (the kernel page cache in use; the volume's caches off), a copier whose
// shared storage is a vfs.OS with DropCache reads no stale block, where a
// plain vfs.OS does (issue 17, item 3, by the copier's reads alone).
func TestCow_crossMount_dropCache(t *testing.T) {
	mount := []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}
	t.Run("plain", func(t *testing.T) {
		v := gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: gluster.CoherentVolume, MountOptions: mount})
		wrong, first := crossMount(t, v, 4)
		t.Logf("%d blocks read wrong, first: %s", wrong, first)
		if wrong == 0 {
			t.Fatal("without direct-io-mode the copier never read a stale block: the test does not see the hazard")
		}
	})
	t.Run("DropCache", func(t *testing.T) {
		v := gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: gluster.CoherentVolume, MountOptions: mount})
		wrong, first := crossMountFS(t, v, 4, func(dir string) vfs.FS { return vfs.OSWithOptions(dir, vfs.OSOptions{DropCache: true}) })
		if wrong > 0 {
			t.Fatalf("%d blocks read wrong, first: %s", wrong, first)
		}
	})
}

// TestCow_crossMount_defaultsFixed: on GlusterFS's default volume and
// mount options (its 256 KiB file is above quick-read's limit, whose
// client-side copy of small files no page-cache drop reaches), a copier whose shared storage drops the kernel's cached
// pages (at each open: vfs.OSOptions.DropCacheOnOpen, as serve does; or
// before each read: DropCache) and a writer that syncs in the reset
// handshake read no stale block over resets and restarts: the same run
// as TestCow_crossMount_defaults, which reads stale blocks without them.
func TestCow_crossMount_defaultsFixed(t *testing.T) {
	for _, o := range []vfs.OSOptions{{DropCacheOnOpen: true}, {DropCache: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			v := gluster.Start(t, gluster.Options{Mounts: 2})
			wrong, first := crossMountFS(t, v, 8, func(dir string) vfs.FS { return vfs.OSWithOptions(dir, o) })
			if wrong > 0 {
				t.Fatalf("%d blocks read wrong, first: %s", wrong, first)
			}
		})
	}
}

// TestCow_crossMount_writeBehind: with the writer's client holding writes
// back (performance.write-behind-trickling-writes off: write-behind
// flushes only when its window fills or on a sync), the copier still
// reads the writer's newest content after each reset, because the reset
// handshake syncs the writer first (cow.View.ResetCopier).
func TestCow_crossMount_writeBehind(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: map[string]string{"performance.write-behind-trickling-writes": "off"}})
	wrong, first := crossMountFS(t, v, 8, func(dir string) vfs.FS { return vfs.OSWithOptions(dir, vfs.OSOptions{DropCacheOnOpen: true}) })
	if wrong > 0 {
		t.Fatalf("%d blocks read wrong, first: %s", wrong, first)
	}
}

// newEpoch tells a copier's shared storage that a new generation starts
// (epochDropFS), if it cares.
func newEpoch(fsys vfs.FS) {
	if e, ok := fsys.(interface{ NewEpoch() }); ok {
		e.NewEpoch()
	}
}
