package sharedcheck_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// TestCheck_localDirectory: two views of one local directory are
// coherent.
func TestCheck_localDirectory(t *testing.T) {
	dir := t.TempDir()
	rep, err := sharedcheck.Check(context.Background(), []vfs.FS{vfs.OS(dir), vfs.OS(dir)}, sharedcheck.Options{Tries: 30, MetaTries: 10, FileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !strings.Contains(rep.String(), "verdict: usable") {
		t.Fatalf("%s", rep)
	}
	if len(rep.Results) != 14 {
		t.Fatalf("%d results", len(rep.Results))
	}
}

// TestCheck_differentDirectories: views that share nothing are refused.
func TestCheck_differentDirectories(t *testing.T) {
	_, err := sharedcheck.Check(context.Background(), []vfs.FS{vfs.OS(t.TempDir()), vfs.OS(t.TempDir())}, sharedcheck.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not see directory") {
		t.Fatalf("got %v", err)
	}
}

// staleFS is a view whose open files read what the file held when opened
// (as a page cache that is never invalidated).
type staleFS struct{ vfs.FS }

func (s staleFS) Open(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := s.FS.Open(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return f, err
	}
	n, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	snap := make([]byte, n)
	if _, err := f.ReadAt(snap, 0); err != nil && err != io.EOF {
		f.Close()
		return nil, err
	}
	return &staleFile{File: f, snap: snap}, nil
}

type staleFile struct {
	vfs.File
	snap []byte
}

func (f *staleFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.snap)) {
		return 0, io.EOF
	}
	n := copy(p, f.snap[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestCheck_staleReads: a view that serves stale pages fails the
// read-after-write checks, with the fix named, and nothing else.
func TestCheck_staleReads(t *testing.T) {
	dir := t.TempDir()
	rep, err := sharedcheck.Check(context.Background(), []vfs.FS{vfs.OS(dir), staleFS{vfs.OS(dir)}}, sharedcheck.Options{Tries: 30, MetaTries: 10, FileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	failed := rep.Failed()
	if len(failed) != 3 {
		t.Fatalf("%s", rep)
	}
	for _, r := range failed {
		if !strings.HasPrefix(r.Check, "read-after-write") || r.Failures == 0 || r.Fix == "" || r.Example == "" {
			t.Fatalf("%+v", r)
		}
	}
	if !strings.Contains(rep.String(), "NOT usable") || !strings.Contains(rep.String(), "direct-io-mode=enable") {
		t.Fatalf("%s", rep)
	}
}
