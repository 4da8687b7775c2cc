package cow

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"pgregory.net/rapid"
)

// sizeCountFS counts Stat calls, and Size calls on the files it opens.
type sizeCountFS struct {
	vfs.FS
	sizes atomic.Int64
	stats atomic.Int64
}

func (s *sizeCountFS) Stat(name string) (fs.FileInfo, error) {
	s.stats.Add(1)
	return s.FS.Stat(name)
}

type sizeCountFile struct {
	vfs.File
	fs *sizeCountFS
}

func (s *sizeCountFS) Open(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := s.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &sizeCountFile{File: f, fs: s}, nil
}

func (f *sizeCountFile) Size() (int64, error) {
	f.fs.sizes.Add(1)
	return f.File.Size()
}

// writeSize writes n bytes at off through f and checks f's size and v.
func writeSize(t *testing.T, v *View, f vfs.File, off, n, want int64) {
	t.Helper()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	if size != want {
		t.Fatalf("size after writing %d bytes at %d: %d, want %d", n, off, size, want)
	}
	if err := v.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestView_WriteAt_steadyNoSize: once the writer knows a file's size, a
// steady write (or Size) asks shared storage for no size.
func TestView_WriteAt_steadyNoSize(t *testing.T) {
	shared := &sizeCountFS{FS: vfs.NewMem()}
	// f exists before the writer: a file the writer creates is stable as
	// a whole at once (TestWriter_createdFileNoRounds).
	must(t, vfs.WriteFile(shared.FS, "f", nil, 0o644))
	w, err := NewWriter(shared, NewDirect(), Options{})
	must(t, err)
	t.Cleanup(func() { must(t, w.Check()) })
	f, err := w.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer f.Close()
	writeSize(t, w, f, 0, 64<<10, 64<<10)
	before := shared.sizes.Load()
	for i := range int64(16) {
		if _, err := f.WriteAt(make([]byte, 4096), i*4096); err != nil {
			t.Fatal(err)
		}
		if size, err := f.Size(); err != nil || size != 64<<10 {
			t.Fatalf("Size = %d, %v; want %d", size, err, 64<<10)
		}
	}
	if got := shared.sizes.Load() - before; got != 0 {
		t.Fatalf("16 steady writes and sizes made %d Size calls on shared storage, want 0", got)
	}
	// Reopening with O_CREATE (and O_TRUNC, once the whole file is
	// stable) needs no Stat either.
	stats := shared.stats.Load()
	for _, flag := range []int{os.O_RDWR | os.O_CREATE, os.O_RDWR | os.O_CREATE | os.O_TRUNC} {
		g, err := w.Open("f", flag, 0o644)
		must(t, err)
		must(t, g.Close())
	}
	if got := shared.stats.Load() - stats; got != 1 {
		t.Fatalf("reopening f twice made %d Stat calls on shared storage, want 1 (for the first truncation)", got)
	}
	if size, err := f.Size(); err != nil || size != 0 {
		t.Fatalf("Size after O_TRUNC = %d, %v; want 0", size, err)
	}
	// Now the whole file is stable: an O_TRUNC reopen skips the Stat.
	stats = shared.stats.Load()
	g, err := w.Open("f", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	must(t, err)
	must(t, g.Close())
	if got := shared.stats.Load() - stats; got != 0 {
		t.Fatalf("reopening f with O_TRUNC again made %d Stat calls, want 0", got)
	}
}

// TestView_WriteAt_sizeCacheSharedByHandles: two handles on one path, a
// truncate, a reopen with O_TRUNC and a rename over an open file: every
// write plans with the true size (Check compares the cache with Size, and
// recFS-backed model tests check the regions).
func TestView_WriteAt_sizeCacheSharedByHandles(t *testing.T) {
	shared := vfs.NewMem()
	c, err := NewCopier(shared, Options{})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{})
	must(t, err)
	t.Cleanup(func() { must(t, w.Check()); must(t, c.Check()) })
	h1, err := w.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer h1.Close()
	h2, err := w.Open("f", os.O_RDWR, 0)
	must(t, err)
	defer h2.Close()
	writeSize(t, w, h1, 0, 4096, 4096)
	writeSize(t, w, h2, 8192, 100, 8292) // extends through the other handle
	writeSize(t, w, h1, 100, 10, 8292)
	must(t, h2.Truncate(5000))
	writeSize(t, w, h1, 4000, 10, 5000)
	h3, err := w.Open("f", os.O_RDWR|os.O_TRUNC, 0)
	must(t, err)
	defer h3.Close()
	writeSize(t, w, h1, 10, 10, 20)
	g, err := w.Open("g", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer g.Close()
	writeSize(t, w, g, 0, 3, 3)
	must(t, w.Rename("g", "f")) // h1..h3 become orphans, g is now "f"
	writeSize(t, w, g, 3, 3, 6)
	writeSize(t, w, h1, 100, 1, 101)
	h4, err := w.Open("f", os.O_RDWR, 0)
	must(t, err)
	defer h4.Close()
	writeSize(t, w, h4, 10, 1, 11)
	writeSize(t, w, g, 0, 1, 11)
	must(t, w.Remove("f"))
	writeSize(t, w, g, 20, 1, 21)
	// The copier joined before f existed, and still sees it absent.
	if _, err := c.Open("f", os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("copier opens f: %v, want fs.ErrNotExist", err)
	}
}

// TestStableSet_covers_matchesMissing: covers(rs) holds exactly when
// missing(rs) is empty.
func TestStableSet_covers_matchesMissing(t *testing.T) {
	const bs = 512
	paths := []string{"a", "b", "d/c"}
	genRegion := rapid.Custom(func(t *rapid.T) Region {
		r := Region{
			Kind: rapid.SampledFrom([]RegionKind{KindMeta, KindFile, KindBlocks}).Draw(t, "kind"),
			Path: rapid.SampledFrom(paths).Draw(t, "path"),
		}
		if r.Kind == KindBlocks {
			r.Off = rapid.Int64Range(0, 40*bs).Draw(t, "off")
			r.Len = rapid.Int64Range(0, 8*bs).Draw(t, "len")
		}
		return r
	})
	rapid.Check(t, func(t *rapid.T) {
		var s stableSet
		s.reset()
		stable := rapid.SliceOfN(genRegion, 0, 12).Draw(t, "stable")
		s.record(stable, bs)
		var rs []Region
		if len(stable) > 0 { // ask for some of what is stable, often all of it
			rs = rapid.SliceOfN(rapid.SampledFrom(stable), 0, 3).Draw(t, "again")
		}
		rs = append(rs, rapid.SliceOfN(genRegion, 0, 2).Draw(t, "asked")...)
		if got, want := s.covers(rs, bs), len(s.missing(rs, bs)) == 0; got != want {
			t.Fatalf("covers %v = %v, missing %v", rs, got, s.missing(rs, bs))
		}
	})
}
