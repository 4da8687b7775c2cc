package cow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

// createdBS is the block size of the created-file tests.
const createdBS = 512

// rounds returns how many Stabilize calls the writer w made during fn.
func rounds(t *testing.T, w *View, fn func()) int64 {
	t.Helper()
	before := w.Stats().StabilizeCalls
	fn()
	return w.Stats().StabilizeCalls - before
}

// appendRecords appends n records of 100 bytes (never block-aligned) to
// f, from its size on, the i-th filled with byte seed+i, and returns the
// bytes appended.
func appendRecords(t *testing.T, f vfs.File, n int, seed byte) []byte {
	t.Helper()
	size, err := f.Size()
	require.NoError(t, err)
	var all []byte
	for i := range n {
		rec := bytes.Repeat([]byte{seed + byte(i)}, 100)
		_, err := f.WriteAt(rec, size)
		require.NoError(t, err)
		size += int64(len(rec))
		all = append(all, rec...)
	}
	return all
}

// readOrAbsent returns name's content in fsys, or nil if it is absent.
func readOrAbsent(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	if err != nil {
		require.ErrorIs(t, err, fs.ErrNotExist)
		return nil
	}
	return b
}

// TestWriter_createdFileNoRounds: appends to a file the writer created in
// the current copier generation need no stability round (every copier
// preserved its absence, so none reads it), whether it was created by
// Open or by a lock, renamed into place over an old file or onto a new
// name, or created again after the old file at its name was removed;
// once a copier resets or joins, the stable set is forgotten and appends
// cost rounds again, and every copier keeps its own view throughout.
func TestWriter_createdFileNoRounds(t *testing.T) {
	raw := vfs.NewMem()
	opts := Options{BlockSize: createdBS}
	old := bytes.Repeat([]byte("old content "), 100) // 1200 bytes, 3 blocks
	require.NoError(t, vfs.WriteFile(raw, "OLD", old, 0o644))
	require.NoError(t, vfs.WriteFile(raw, "CURRENT", old, 0o644))
	c1, err := NewCopier(raw, opts)
	require.NoError(t, err)
	direct := NewDirect(c1)
	w, err := NewWriter(raw, direct, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, w.Check())
		require.NoError(t, c1.Check())
	})

	// A new file: one round for its absence, none for 1,000 appends that
	// enter about 200 blocks, a truncation, a reopen, a removal and a new
	// file of the same name.
	var wal vfs.File
	require.EqualValues(t, 1, rounds(t, w, func() {
		wal, err = w.Open("wal", os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
	}), "creating a new file")
	var walData []byte
	require.Zero(t, rounds(t, w, func() { walData = appendRecords(t, wal, 1000, 'a') }),
		"1000 appends to a file created in this generation")
	require.Zero(t, rounds(t, w, func() {
		require.NoError(t, wal.Truncate(50*createdBS+7))
		walData = walData[:50*createdBS+7]
		_, err := wal.WriteAt([]byte("overwrite"), 3*createdBS-4)
		require.NoError(t, err)
		copy(walData[3*createdBS-4:], "overwrite")
		g, err := w.Open("wal", os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
		require.NoError(t, g.Close())
	}), "truncating, overwriting and reopening it")
	require.Nil(t, readOrAbsent(t, c1, "wal"), "the copier sees a file the writer created after its reset")

	// Remove a file that existed at the copier's reset, create one in its
	// place: one round for the old file, none for the new one's appends.
	require.EqualValues(t, 1, rounds(t, w, func() { require.NoError(t, w.Remove("OLD")) }), "removing an old file")
	require.Zero(t, rounds(t, w, func() {
		f, err := w.Open("OLD", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		require.NoError(t, err)
		appendRecords(t, f, 100, 'r')
		require.NoError(t, f.Close())
	}), "recreating and appending to a removed file's name")
	require.Equal(t, old, readOrAbsent(t, c1, "OLD"), "the copier lost the removed file's content")

	// A new file renamed over an old one (a MANIFEST's CURRENT): one round
	// for the old file, then the new one is stable as a whole under its
	// new name. Renamed onto a name that never existed: one round for the
	// absence there, then the same.
	tmp, err := w.Open("tmp", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	require.Zero(t, rounds(t, w, func() { appendRecords(t, tmp, 10, 't') }))
	require.EqualValues(t, 1, rounds(t, w, func() { require.NoError(t, w.Rename("tmp", "CURRENT")) }),
		"renaming a new file over an old one")
	require.Zero(t, rounds(t, w, func() { appendRecords(t, tmp, 100, 'u') }),
		"appends to a new file renamed over an old one")
	require.EqualValues(t, 1, rounds(t, w, func() { require.NoError(t, w.Rename("CURRENT", "LOG")) }),
		"renaming onto a name that never existed")
	require.Zero(t, rounds(t, w, func() { appendRecords(t, tmp, 100, 'v') }),
		"appends after renaming onto a new name")
	require.NoError(t, tmp.Close())
	require.Equal(t, old, readOrAbsent(t, c1, "CURRENT"), "the copier lost the replaced file's content")
	require.Nil(t, readOrAbsent(t, c1, "LOG"))

	// A file a lock creates: one round for its absence, then none.
	var lock io.Closer
	require.EqualValues(t, 1, rounds(t, w, func() {
		lock, err = w.Lock("LOCK")
		require.NoError(t, err)
	}), "a lock creating its file")
	require.Zero(t, rounds(t, w, func() {
		f, err := w.Open("LOCK", os.O_RDWR, 0)
		require.NoError(t, err)
		appendRecords(t, f, 10, 'l')
		require.NoError(t, f.Close())
	}), "writes to the file a lock created")
	require.NoError(t, lock.Close())
	require.Nil(t, readOrAbsent(t, c1, "LOCK"))

	// After a reset the copier sees wal as it is now: appends and
	// overwrites cost rounds again, and the copier keeps seeing wal as it
	// was at its reset.
	require.NoError(t, c1.Reset(context.Background(), w))
	require.Equal(t, walData, readOrAbsent(t, c1, "wal"))
	n := rounds(t, w, func() {
		appendRecords(t, wal, 1000, 'b')
		_, err := wal.WriteAt([]byte("changed"), 10)
		require.NoError(t, err)
	})
	require.Positive(t, n, "appends and an overwrite after a reset needed no round")
	require.Equal(t, walData, readOrAbsent(t, c1, "wal"), "the copier lost wal as it was at its reset")

	// A file created after that reset is free again; then a copier joins
	// and it costs rounds again, for both copiers' sake.
	var wal2 vfs.File
	require.EqualValues(t, 1, rounds(t, w, func() {
		wal2, err = w.Open("wal2", os.O_RDWR|os.O_CREATE, 0o644)
		require.NoError(t, err)
	}))
	defer wal2.Close()
	require.Zero(t, rounds(t, w, func() { walData = appendRecords(t, wal2, 1000, 'c') }))
	var c2 *View
	require.NoError(t, w.ResetCopier(context.Background(), func() error {
		c2, err = NewCopier(raw, opts)
		if err == nil {
			direct.Add(c2)
		}
		return err
	}))
	t.Cleanup(func() { require.NoError(t, c2.Check()) })
	n = rounds(t, w, func() {
		appendRecords(t, wal2, 10, 'd')
		_, err := wal2.WriteAt([]byte("changed"), 10)
		require.NoError(t, err)
	})
	require.Positive(t, n, "appends and an overwrite after a join needed no round")
	require.Equal(t, walData, readOrAbsent(t, c2, "wal2"), "the joined copier lost wal2 as it was when it joined")
	require.Nil(t, readOrAbsent(t, c1, "wal2"))
	require.NoError(t, wal.Close())
}

// TestWriter_createdFileGuard: a file the writer created in the current
// generation needs no round for its writes, truncations, removal or
// renaming, so a failing round can no longer stop a deposed writer there:
// the Guard, called before every mutation whether it needed a round or
// not, must. Each refused mutation leaves shared storage unchanged.
func TestWriter_createdFileGuard(t *testing.T) {
	raw := vfs.NewMem()
	opts := Options{BlockSize: createdBS}
	c, err := NewCopier(raw, opts)
	require.NoError(t, err)
	w, err := NewWriter(raw, NewDirect(c), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, w.Check())
		require.NoError(t, c.Check())
	})
	f, err := w.Open("wal", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	defer f.Close()
	appendRecords(t, f, 20, 'a')
	// wal2 created and removed: its absence is stable, and so a rename
	// onto it needs no round either.
	require.NoError(t, vfs.WriteFile(w, "wal2", []byte("x"), 0o644))
	require.NoError(t, w.Remove("wal2"))

	fenced := errors.New("epoch superseded")
	var calls int
	w.SetGuard(func(context.Context) error { calls++; return fenced })
	before := snapshot(t, raw)
	refused := map[string]func() error{
		"append":   func() error { _, err := f.WriteAt([]byte("late"), 2000); return err },
		"rewrite":  func() error { _, err := f.WriteAt([]byte("late"), 10); return err },
		"truncate": func() error { return f.Truncate(7) },
		"otrunc":   func() error { g, err := w.Open("wal", os.O_RDWR|os.O_TRUNC, 0); closeIf(g); return err },
		"remove":   func() error { return w.Remove("wal") },
		"rename":   func() error { return w.Rename("wal", "wal2") },
	}
	for name, mutate := range refused {
		calls = 0
		require.Zero(t, rounds(t, w, func() {
			err := mutate()
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe, name)
			require.ErrorIs(t, err, fenced, name)
		}), "%s of a file created in this generation needs no round", name)
		require.Positive(t, calls, "%s: the Guard was not called", name)
		require.True(t, sameSnapshot(before, snapshot(t, raw)), "%s: shared storage changed although the Guard refused", name)
	}
	w.SetGuard(nil)
	require.Zero(t, rounds(t, w, func() { appendRecords(t, f, 1, 'z') }))
}

// closeIf closes f if it is not nil.
func closeIf(f vfs.File) {
	if f != nil {
		f.Close()
	}
}

// BenchmarkWriter_appendNewFile appends 1,000 unaligned records to a file
// the writer has just created, with two copiers, at the default block
// size, and reports the stability rounds the appends cost per 1,000
// (rounds/1k-appends; the create's own round is not counted). A
// sub-benchmark per record size: a SQLite WAL frame, a Pebble WAL batch.
func BenchmarkWriter_appendNewFile(b *testing.B) {
	for _, size := range []int{100, 1031, 4120} {
		b.Run("rec="+strconv.Itoa(size), func(b *testing.B) {
			raw := vfs.NewMem()
			c1, err := NewCopier(raw, Options{})
			must(b, err)
			c2, err := NewCopier(raw, Options{})
			must(b, err)
			w, err := NewWriter(raw, NewDirect(c1, c2), Options{})
			must(b, err)
			rec := bytes.Repeat([]byte{'r'}, size)
			var appendRounds int64
			i := 0
			b.SetBytes(int64(1000 * size))
			for b.Loop() {
				name := "wal-" + strconv.Itoa(i)
				i++
				f, err := w.Open(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
				must(b, err)
				before := w.Stats().StabilizeCalls
				for j := range int64(1000) {
					if _, err := f.WriteAt(rec, j*int64(size)); err != nil {
						b.Fatal(err)
					}
				}
				appendRounds += w.Stats().StabilizeCalls - before
				must(b, f.Close())
				must(b, w.Remove(name))
			}
			b.ReportMetric(float64(appendRounds)/float64(b.N), "rounds/1k-appends")
		})
	}
}
