package gluster_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
	"github.com/holeycow/holeycow/vfs/vfstest"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// TestDurability_pageCache: on the coherent volume options with mounts
// that keep the kernel's page cache (no direct-io-mode=enable), a reader
// opening a file anew after the writer's fsync reads the pages it had
// cached before: check-shared's fresh-open check fails for a plain
// vfs.OS reader and passes when the reader drops the page cache at open
// (vfs.OSOptions.DropCacheOnOpen, what serve does on a network mount).
// The name, order and metadata checks pass on these mounts either way.
func TestDurability_pageCache(t *testing.T) {
	v := gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: gluster.CoherentVolume,
		MountOptions: []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}})
	s := vfstest.Seed(t, *seed)
	for _, drop := range []bool{false, true} {
		name := "plain"
		if drop {
			name = "dropCacheOnOpen"
		}
		o := vfs.OSOptions{DropCacheOnOpen: drop}
		require.NoError(t, os.Mkdir(filepath.Join(v.Mounts[0], name), 0o755))
		views := []vfs.FS{vfs.OSWithOptions(filepath.Join(v.Mounts[0], name), o), vfs.OSWithOptions(filepath.Join(v.Mounts[1], name), o)}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := sharedcheck.Check(ctx, views, sharedcheck.Options{Seed: s, Tries: 40, MetaTries: 8, FileSize: 1 << 20})
		cancel()
		require.NoError(t, err)
		t.Logf("%s:\n%s", name, rep)
		failed := map[string]bool{}
		for _, r := range rep.Failed() {
			failed[r.Check] = true
		}
		require.Equal(t, !drop, failed["synced write visible to a fresh open"], "%s", name)
		for _, c := range []string{"synced new file visible with its data", "synced replace by rename visible with its data",
			"synced writes never seen reversed or undone", "size through an open file", "size through stat",
			"create visible", "remove visible", "rename visible (new name there, old gone)"} {
			require.False(t, failed[c], "%s: %s failed", name, c)
		}
	}
}
