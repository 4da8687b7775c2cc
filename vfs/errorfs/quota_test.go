package errorfs_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// TestQuota: past the limit, growing a file fails with ENOSPC; rewriting
// within a file and shrinking one still work, and shrinking frees space.
func TestQuota(t *testing.T) {
	inner := vfs.NewMem()
	q := errorfs.NewQuota(inner)
	fsys := checkAtCleanup(t, errorfs.WithErrors(inner, q))
	if err := fsys.MkdirAll("d", 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("d/a", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 100), 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Fill(10); err != nil {
		t.Fatal(err)
	}
	if used, err := q.Used(); err != nil || used != 100 {
		t.Fatalf("used %d, %v; want 100", used, err)
	}
	if _, err := f.WriteAt(make([]byte, 10), 100); err != nil {
		t.Fatalf("growth within the limit: %v", err)
	}
	if _, err := f.WriteAt(make([]byte, 1), 110); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("growth past the limit: %v, want ENOSPC", err)
	}
	if err := f.Truncate(200); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("truncate past the limit: %v, want ENOSPC", err)
	}
	if _, err := f.WriteAt(make([]byte, 110), 0); err != nil {
		t.Fatalf("rewrite within the file: %v", err)
	}
	if err := f.Truncate(50); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 60), 50); err != nil {
		t.Fatalf("growth into freed space: %v", err)
	}
	q.SetLimit(0)
	if _, err := f.WriteAt(make([]byte, 1000), 110); err != nil {
		t.Fatalf("no limit: %v", err)
	}
}
