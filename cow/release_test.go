package cow

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// scratchBytes returns the bytes of the files under scratch's overlay
// directory, and whether the directory exists.
func scratchBytes(t *testing.T, scratch vfs.FS) (int64, bool) {
	t.Helper()
	names, err := scratch.List("overlay")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false
	}
	must(t, err)
	var n int64
	for _, name := range names {
		fi, err := scratch.Stat("overlay/" + name)
		must(t, err)
		n += fi.Size()
	}
	return n, true
}

// A file whose blocks all go (SQLite's journal truncated to 0 after each
// transaction) gives its space back on the scratch device.
func TestDirStore_truncateToZeroFreesSpace(t *testing.T) {
	scratch := vfs.NewMem()
	st, err := NewDirStore(scratch)
	must(t, err)
	c, err := NewCopier(vfs.NewMem(), Options{Store: st, BlockSize: 512})
	must(t, err)
	must(t, vfs.WriteFile(c, "journal", bytes.Repeat([]byte("j"), 8*512), 0o644))
	if n, _ := scratchBytes(t, scratch); n < 8*512 {
		t.Fatalf("scratch holds %d bytes after writing 4 KiB", n)
	}
	f, err := c.Open("journal", os.O_RDWR, 0)
	must(t, err)
	must(t, f.Truncate(0))
	must(t, f.Close())
	if n, _ := scratchBytes(t, scratch); n != 0 {
		t.Fatalf("scratch holds %d bytes after truncating the only file to 0", n)
	}
	must(t, c.Check())
}

// Release drops a copier's overlay from its dir store's scratch directory
// and refuses later operations; a second Release is harmless.
func TestView_Release_copierDirStore(t *testing.T) {
	scratch := vfs.NewMem()
	st, err := NewDirStore(scratch)
	must(t, err)
	shared := vfs.NewMem()
	must(t, vfs.WriteFile(shared, "db", bytes.Repeat([]byte("s"), 4096), 0o644))
	c, err := NewCopier(shared, Options{Store: st, BlockSize: 512})
	must(t, err)
	must(t, vfs.WriteFile(c, "db", bytes.Repeat([]byte("c"), 4096), 0o644))
	must(t, vfs.WriteFile(c, "other", bytes.Repeat([]byte("o"), 2048), 0o644))
	if n, _ := scratchBytes(t, scratch); n == 0 {
		t.Fatal("nothing spilled to scratch")
	}
	must(t, c.Release())
	if n, ok := scratchBytes(t, scratch); ok || n != 0 {
		t.Fatalf("after Release scratch holds %d bytes (overlay directory there: %v)", n, ok)
	}
	_, err = vfs.ReadFile(c, "db")
	if !errors.Is(err, ErrReleased) || !errors.Is(err, ErrInvalidated) {
		t.Fatalf("read after Release: %v, want ErrInvalidated and ErrReleased", err)
	}
	must(t, c.Release())
	// Shared storage is untouched.
	b, err := vfs.ReadFile(shared, "db")
	must(t, err)
	if !bytes.Equal(b, bytes.Repeat([]byte("s"), 4096)) {
		t.Fatal("Release changed shared storage")
	}
}
