package cow

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// TestWriter_appendAhead: appends of unaligned records (a SQLite WAL's
// 24-byte frame headers and pages) need a round per appendAhead blocks,
// not one per block, and the copier still sees the file as it was when it
// joined, then its own appends, with zeros in the gap it leaves.
func TestWriter_appendAhead(t *testing.T) {
	ctx := context.Background()
	raw := vfs.NewMem()
	const bs = 512
	opts := Options{BlockSize: bs}
	c, err := NewCopier(raw, opts)
	must(t, err)
	w, err := NewWriter(raw, NewLocal(c), opts)
	must(t, err)
	must(t, vfs.WriteFile(w, "wal", bytes.Repeat([]byte{'h'}, 32), 0o644))
	must(t, c.Reset(ctx, w))
	calls0 := w.Stats().StabilizeCalls

	wf, err := w.Open("wal", os.O_RDWR, 0)
	must(t, err)
	defer wf.Close()
	off := int64(32)
	frames := 3 * appendAhead
	for i := range frames {
		hdr := bytes.Repeat([]byte{byte('a' + i%26)}, 24)
		page := bytes.Repeat([]byte{byte('A' + i%26)}, bs)
		_, err := wf.WriteAt(hdr, off)
		must(t, err)
		_, err = wf.WriteAt(page, off+24)
		must(t, err)
		off += 24 + bs
	}
	calls := w.Stats().StabilizeCalls - calls0
	// Before append-ahead: a round for nearly every frame.
	if max := int64(frames/appendAhead*2 + 4); calls > max {
		t.Errorf("%d rounds for %d unaligned frames, want at most %d", calls, frames, max)
	}
	t.Logf("%d rounds for %d frames", calls, frames)

	// The copier's view: 32 bytes as it joined. Its own append past a gap
	// reads zeros in the gap, not the writer's frames.
	cf, err := c.Open("wal", os.O_RDWR, 0)
	must(t, err)
	defer cf.Close()
	size, err := cf.Size()
	must(t, err)
	if size != 32 {
		t.Fatalf("copier size %d, want 32", size)
	}
	_, err = cf.WriteAt([]byte("copier"), 3000)
	must(t, err)
	got := make([]byte, 3006)
	_, err = cf.ReadAt(got, 0)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte{'h'}, 32), make([]byte, 3000-32)...), "copier"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("copier reads the writer's appends in its own file's gap")
	}
	must(t, c.Check())
	must(t, w.Check())
}

// TestWriter_seqAhead: after a copier reset made every block unstable, a
// sequential overwrite from the start of the file (a WAL restarting)
// needs a round per seqAhead blocks, not per block, and the copier keeps
// seeing the file as it was at its reset.
func TestWriter_seqAhead(t *testing.T) {
	ctx := context.Background()
	raw := vfs.NewMem()
	const bs = 512
	opts := Options{BlockSize: bs}
	c, err := NewCopier(raw, opts)
	must(t, err)
	w, err := NewWriter(raw, NewLocal(c), opts)
	must(t, err)
	const frames = 4 * seqAhead
	old := make([]byte, 32+frames*(24+bs))
	for i := range old {
		old[i] = byte(i * 7)
	}
	must(t, vfs.WriteFile(w, "wal", old, 0o644))
	must(t, c.Reset(ctx, w))
	calls0 := w.Stats().StabilizeCalls

	wf, err := w.Open("wal", os.O_RDWR, 0)
	must(t, err)
	defer wf.Close()
	_, err = wf.WriteAt(bytes.Repeat([]byte{'H'}, 32), 0)
	must(t, err)
	off := int64(32)
	for i := range frames {
		_, err := wf.WriteAt(bytes.Repeat([]byte{byte('a' + i%26)}, 24), off)
		must(t, err)
		_, err = wf.WriteAt(bytes.Repeat([]byte{byte('A' + i%26)}, bs), off+24)
		must(t, err)
		off += 24 + bs
	}
	calls := w.Stats().StabilizeCalls - calls0
	blocks := int64(len(old)) / bs
	if max := blocks/seqAhead + 4; calls > max {
		t.Errorf("%d rounds to overwrite %d blocks in order, want at most %d", calls, blocks, max)
	}
	t.Logf("%d rounds to overwrite %d blocks", calls, blocks)

	got, err := vfs.ReadFile(c, "wal")
	must(t, err)
	if !bytes.Equal(got, old) {
		t.Fatal("the copier does not see the file as it was at its reset")
	}
	// Random overwrites (no sequence) take nothing along.
	calls0 = w.Stats().StabilizeCalls
	must(t, c.Reset(ctx, w))
	for _, blk := range []int64{9, 3, 17} {
		_, err := wf.WriteAt([]byte("x"), blk*bs+5)
		must(t, err)
	}
	if calls := w.Stats().StabilizeCalls - calls0; calls != 3 {
		t.Errorf("%d rounds for 3 writes to 3 blocks out of order, want 3", calls)
	}
	must(t, c.Check())
	must(t, w.Check())
}
