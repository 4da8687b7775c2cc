package vfs_test

import (
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

func TestOSFS_conformance(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.OS(tb.TempDir()) })
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
