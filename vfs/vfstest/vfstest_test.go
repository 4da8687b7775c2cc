package vfstest_test

import (
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

func TestCheck_mem(t *testing.T) {
	if err := vfstest.Check(t, func(testing.TB) vfs.FS { return vfs.NewMem() }); err != nil {
		t.Errorf("Check(vfs.NewMem) found problems:\n%v", err)
	}
}

func TestTestFS_os(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.OS(tb.TempDir()) })
}

// A package's test runs the suite on a fresh FS per check.
func ExampleTestFS() {
	_ = func(t *testing.T) {
		vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.OS(tb.TempDir()) })
	}
}

func TestTestFS_osDropCache(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return vfs.OSWithOptions(tb.TempDir(), vfs.OSOptions{DropCache: true}) })
}
