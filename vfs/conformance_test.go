package vfs_test

import (
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

func TestOSFS_conformance(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.OS(tb.TempDir()) })
}

// TestOSFS_conformance_dropCache runs the suite on an OS FS that drops
// cached pages at each open and before each read: the drops change no
// answer.
func TestOSFS_conformance_dropCache(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS {
		return vfs.OSWithOptions(tb.TempDir(), vfs.OSOptions{DropCache: true, DropCacheOnOpen: true})
	})
}

func TestMemFS_conformance(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.NewMem() })
}

// TestMemFS_conformance_crashClone runs the suite on the crash clone of a
// populated MemFS, which must be a full, working FS of its own.
func TestMemFS_conformance_crashClone(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS {
		m := vfs.NewMem()
		if err := vfs.WriteFile(m, "gone", []byte("unsynced"), 0o644); err != nil {
			tb.Fatal(err)
		}
		return m.CrashClone(vfs.CrashOptions{Seed: 1, KeepUnsynced: 0})
	})
}
