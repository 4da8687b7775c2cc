package vfs_test

import (
	"errors"
	"flag"
	"io"
	"io/fs"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Int64("seed", 0, "seed for the randomized tests (0 picks one from the clock)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t testing.TB) int64 {
	return int64(vfstest.Seed(t, uint64(*seedFlag)))
}

// checker is an FS with a Check method.
type checker interface{ Check() error }

// checkAtEnd calls c.Check in t's cleanup.
func checkAtEnd(t testing.TB, c checker) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
}

func newMem(t testing.TB) *vfs.MemFS {
	m := vfs.NewMem()
	checkAtEnd(t, m)
	return m
}

func newOS(t testing.TB) *vfs.OSFS {
	o := vfs.OS(t.TempDir())
	checkAtEnd(t, o)
	return o
}

// eachFS runs fn as a subtest on a fresh OSFS and a fresh MemFS.
func eachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS)) {
	t.Run("OS", func(t *testing.T) { fn(t, newOS(t)) })
	t.Run("Mem", func(t *testing.T) { fn(t, newMem(t)) })
}

// wantErr fails t unless err is an *fs.PathError with op and path wrapping
// target.
func wantErr(t testing.TB, err error, op, path string, target error) {
	t.Helper()
	var pe *fs.PathError
	switch {
	case err == nil:
		t.Errorf("got no error, want %s %q: %v", op, path, target)
	case !errors.As(err, &pe):
		t.Errorf("got %T %v, want an *fs.PathError", err, err)
	case !errors.Is(err, target):
		t.Errorf("got %v, want %v", err, target)
	case pe.Op != op:
		t.Errorf("got %v with Op %q, want %q", err, pe.Op, op)
	case pe.Path != path:
		t.Errorf("got %v with Path %q, want %q", err, pe.Path, path)
	}
}

// tb is the part of testing.TB that the helpers need; *rapid.T has it too.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

func must(t tb, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t tb, fsys vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fsys.Open(name, flag, 0o644)
	must(t, err)
	return f
}

func writeAt(t testing.TB, f vfs.File, s string, off int64) {
	t.Helper()
	n, err := f.WriteAt([]byte(s), off)
	if err != nil || n != len(s) {
		t.Fatalf("WriteAt(%q, %d) = %d, %v", s, off, n, err)
	}
}

// content returns the whole content of f.
func content(t testing.TB, f vfs.File) string {
	t.Helper()
	size, err := f.Size()
	must(t, err)
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("ReadAt: %v", err)
	}
	return string(buf[:n])
}

func wantContent(t testing.TB, fsys vfs.FS, name, want string) {
	t.Helper()
	got, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Errorf("ReadFile(%q): %v", name, err)
		return
	}
	if string(got) != want {
		t.Errorf("content of %q = %q, want %q", name, got, want)
	}
}

func wantMissing(t testing.TB, fsys vfs.FS, name string) {
	t.Helper()
	if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
	}
}

// snapshot returns every file and directory of fsys (vfstest.Snapshot: a
// file maps to its content, a directory's path with "/" appended to "").
func snapshot(t tb, fsys vfs.FS) map[string]string {
	t.Helper()
	snap, err := vfstest.Snapshot(fsys)
	must(t, err)
	return snap
}

// diffSnapshots describes how got differs from want, or returns "".
func diffSnapshots(got, want map[string]string) string {
	return vfstest.DiffSnapshots(got, want)
}

// syncAll makes everything in fsys durable: every file's content and every
// directory's entries.
func syncAll(t tb, fsys vfs.FS) {
	t.Helper()
	must(t, vfs.SyncTree(fsys, ".", true))
}
