package server

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

func TestLoggingFS_records(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mutations")
	var epoch atomic.Uint64
	ml, err := openMutationLog(path, epoch.Load)
	if err != nil {
		t.Fatal(err)
	}
	fsys := withMutationLog(vfs.NewMem(), ml)
	f, err := fsys.Open("a", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	epoch.Store(3)
	if _, err := f.WriteAt([]byte("hello"), 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	if err := vfs.SyncData(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	epoch.Store(4)
	// A write that the inner FS refuses is recorded all the same: the
	// entry precedes the attempt.
	r, err := fsys.Open("a", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("write to a read-only file succeeded")
	}
	r.Close()
	if err := fsys.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if err := ml.Close(); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	ms, err := ReadMutations(lf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutation{
		{Op: "create", Path: "a", Epoch: 0},
		{Op: "write", Path: "a", Off: 2, Len: 5, Epoch: 3},
		{Op: "truncate", Path: "a", Off: 4, Epoch: 3},
		{Op: "write", Path: "a", Off: 0, Len: 1, Epoch: 4},
		{Op: "rename", Path: "a", To: "b", Epoch: 4},
		{Op: "mkdir", Path: "d", Epoch: 4},
		{Op: "remove", Path: "b", Epoch: 4},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(ms), len(want), ms)
	}
	for i, m := range ms {
		if m.Time.IsZero() || (i > 0 && m.Time.Before(ms[i-1].Time)) {
			t.Errorf("entry %d: time %v out of order", i, m.Time)
		}
		m.Time = want[i].Time
		if m != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, m, want[i])
		}
	}
}

// The wrapper is a conformant vfs.FS.
func TestLoggingFS_conformance(t *testing.T) {
	vfstest.TestFS(t, func(t testing.TB) vfs.FS {
		ml, err := openMutationLog(filepath.Join(t.TempDir(), "m"), func() uint64 { return 0 })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ml.Close() })
		return withMutationLog(vfs.NewMem(), ml)
	})
}
