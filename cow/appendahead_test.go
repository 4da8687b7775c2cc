package cow

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

const walBS = 512 // the block size of the WAL tests

// walPair is a writer and a copier over a fresh Mem holding "wal" with
// content, the copier reset after it was written, and a writer handle on
// "wal".
func walPair(t *testing.T, content []byte) (w, c *View, wf vfs.File) {
	t.Helper()
	raw := vfs.NewMem()
	opts := Options{BlockSize: walBS}
	c, err := NewCopier(raw, opts)
	must(t, err)
	w, err = NewWriter(raw, NewDirect(c), opts)
	must(t, err)
	must(t, vfs.WriteFile(w, "wal", content, 0o644))
	must(t, c.Reset(context.Background(), w))
	wf, err = w.Open("wal", os.O_RDWR, 0)
	must(t, err)
	t.Cleanup(func() { wf.Close() })
	return w, c, wf
}

// writeFrames writes n WAL-like frames (a 24-byte header, then a block of
// data, in two writes) from off, and returns where they end.
func writeFrames(t *testing.T, wf vfs.File, off int64, n int) int64 {
	t.Helper()
	for i := range n {
		_, err := wf.WriteAt(bytes.Repeat([]byte{byte('a' + i%26)}, 24), off)
		must(t, err)
		_, err = wf.WriteAt(bytes.Repeat([]byte{byte('A' + i%26)}, walBS), off+24)
		must(t, err)
		off += 24 + walBS
	}
	return off
}

// TestWriter_appendAhead: appends of unaligned records (a SQLite WAL's
// 24-byte frame headers and pages) need a round per appendAhead blocks,
// not one per block, and the copier still sees the file as it was when it
// joined, then its own appends, with zeros in the gap it leaves.
func TestWriter_appendAhead(t *testing.T) {
	w, c, wf := walPair(t, bytes.Repeat([]byte{'h'}, 32))
	calls0 := w.Stats().StabilizeCalls
	frames := 3 * appendAhead
	writeFrames(t, wf, 32, frames)
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
	const frames = 4 * seqAhead
	old := make([]byte, 32+frames*(24+walBS))
	for i := range old {
		old[i] = byte(i * 7)
	}
	w, c, wf := walPair(t, old)
	calls0 := w.Stats().StabilizeCalls
	_, err := wf.WriteAt(bytes.Repeat([]byte{'H'}, 32), 0)
	must(t, err)
	writeFrames(t, wf, 32, frames)
	calls := w.Stats().StabilizeCalls - calls0
	blocks := int64(len(old)) / walBS
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
	must(t, c.Reset(context.Background(), w))
	for _, blk := range []int64{9, 3, 17} {
		_, err := wf.WriteAt([]byte("x"), blk*walBS+5)
		must(t, err)
	}
	if calls := w.Stats().StabilizeCalls - calls0; calls != 3 {
		t.Errorf("%d rounds for 3 writes to 3 blocks out of order, want 3", calls)
	}
	must(t, c.Check())
	must(t, w.Check())
}

// TestWriter_seqAhead_pagesTakeNothing: block-aligned writes of adjacent
// blocks (a database commit's pages) take no blocks along: copiers would
// preserve pages no one overwrites.
func TestWriter_seqAhead_pagesTakeNothing(t *testing.T) {
	w, c, wf := walPair(t, make([]byte, 200*walBS))
	for blk := int64(10); blk < 13; blk++ {
		_, err := wf.WriteAt(bytes.Repeat([]byte{'p'}, walBS), blk*walBS)
		must(t, err)
	}
	if got := c.Stats().OverlayBytes; got > 3*walBS {
		t.Errorf("copier overlay %d bytes after 3 pages were overwritten, want at most %d", got, 3*walBS)
	}
	must(t, c.Check())
	must(t, w.Check())
}
