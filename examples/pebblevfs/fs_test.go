package pebblevfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	pvfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/vfs"
)

func TestFile_cursor(t *testing.T) {
	p := pebblevfs.New(vfs.NewMem())
	f, err := p.Create("a", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	for _, s := range []string{"hello ", "world"} {
		n, err := f.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	fi, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, int64(11), fi.Size())
	require.Equal(t, "a", fi.Name())
	require.NoError(t, f.Close())

	f, err = p.Open("a")
	require.NoError(t, err)
	buf := make([]byte, 4)
	var got []byte
	for range 10 {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, "hello world", string(got))
	n, err := f.Read(buf)
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err)
	n, err = f.ReadAt(buf, 6)
	require.NoError(t, err)
	require.Equal(t, "worl", string(buf[:n]))
	require.NoError(t, f.Close())
}

// TestFS_Create_replaces checks that Create gives a new file, leaving a
// File open on the old one with its content.
func TestFS_Create_replaces(t *testing.T) {
	p := pebblevfs.New(vfs.NewMem())
	require.NoError(t, vfs.WriteFile(p.Inner(), "a", []byte("old"), 0o644))
	old, err := p.Open("a")
	require.NoError(t, err)
	f, err := p.Create("a", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("new!"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := io.ReadAll(old)
	require.NoError(t, err)
	require.Equal(t, "old", string(got))
	require.NoError(t, old.Close())
	data, err := vfs.ReadFile(p.Inner(), "a")
	require.NoError(t, err)
	require.Equal(t, "new!", string(data))
}

// TestFS_Link_copies checks Link's fallback: a synced copy that survives a
// crash once its directory is synced, and fs.ErrExist for an existing
// target (what Pebble's LinkOrCopy passes on rather than copying over).
func TestFS_Link_copies(t *testing.T) {
	mem := vfs.NewMem()
	p := pebblevfs.New(mem)
	require.NoError(t, p.MkdirAll("d", 0o755))
	require.NoError(t, vfs.WriteFile(mem, "d/a", []byte("table"), 0o644))
	require.NoError(t, p.Link("d/a", "d/b"))
	err := p.Link("d/a", "d/b")
	require.ErrorIs(t, err, fs.ErrExist)
	require.ErrorIs(t, p.Link("d/missing", "d/c"), fs.ErrNotExist)
	require.NoError(t, pvfs.LinkOrCopy(p, "d/a", "d/c"))

	for _, name := range []string{"", "d"} {
		dir, err := p.OpenDir(name)
		require.NoError(t, err)
		require.NoError(t, dir.Sync())
		require.NoError(t, dir.Close())
	}
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	for _, name := range []string{"d/b", "d/c"} {
		data, err := vfs.ReadFile(crashed, name)
		require.NoError(t, err, name)
		require.Equal(t, "table", string(data), name)
	}
}

// TestFile_dir_Sync checks that OpenDir's Sync is SyncDir: without it a
// crash may lose the entry, with it the entry survives.
func TestFile_dir_Sync(t *testing.T) {
	mem := vfs.NewMem()
	p := pebblevfs.New(mem)
	require.NoError(t, p.MkdirAll("d", 0o755))
	root, err := p.OpenDir("")
	require.NoError(t, err)
	require.NoError(t, root.Sync())
	f, err := p.Create("d/x", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	_, err = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0}).Stat("d/x")
	require.ErrorIs(t, err, fs.ErrNotExist, "entry survived without SyncDir: the test proves nothing")

	d, err := p.Open("d") // Open on a directory is OpenDir
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	_, err = d.Read(make([]byte, 1))
	require.ErrorIs(t, err, pebblevfs.ErrDirectory)
	require.NoError(t, d.Close())
	_, err = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0}).Stat("d/x")
	require.NoError(t, err)

	_, err = p.OpenDir("d/x")
	require.ErrorIs(t, err, vfs.ErrNotDir)
}

func TestFS_ReuseForWrite(t *testing.T) {
	p := pebblevfs.New(vfs.NewMem())
	require.NoError(t, vfs.WriteFile(p.Inner(), "1.log", []byte("recycled"), 0o644))
	f, err := p.ReuseForWrite("1.log", "2.log", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("RE"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	data, err := vfs.ReadFile(p.Inner(), "2.log")
	require.NoError(t, err)
	require.Equal(t, "REcycled", string(data))
	_, err = p.Stat("1.log")
	require.True(t, errors.Is(err, fs.ErrNotExist) && os.IsNotExist(err))
}

// TestFS_ReuseForWrite_cow: on a cow writer, a log that a copier still
// reads (written before the copier reset) is not reused in place: the
// new log is a new file and the old one moves to the holding area, so
// the copier copies nothing, now or when the new log is written. A log
// written since the reset is reused as on plain files, with no round.
func TestFS_ReuseForWrite_cow(t *testing.T) {
	ctx := context.Background()
	shared := vfs.NewMem()
	opts := cow.Options{BlockSize: 512, HoldRemoved: true}
	c, err := cow.NewCopier(shared, opts)
	require.NoError(t, err)
	w, err := cow.NewWriter(shared, cow.NewDirect(c), opts)
	require.NoError(t, err)
	old := bytes.Repeat([]byte{'o'}, 4000)
	require.NoError(t, vfs.WriteFile(w, "1.log", old, 0o644))
	require.NoError(t, c.Reset(ctx, w))
	p := pebblevfs.New(w)
	write := func(f pvfs.File, n int) {
		t.Helper()
		_, err := f.Write(bytes.Repeat([]byte{'n'}, n))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.True(t, w.HoldsRemoved())
	require.False(t, c.HoldsRemoved(), "a copier removes nothing from shared storage")
	require.False(t, w.Unread("1.log"))
	f, err := p.ReuseForWrite("1.log", "2.log", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	write(f, 3000)
	data, err := vfs.ReadFile(w, "2.log")
	require.NoError(t, err)
	require.Len(t, data, 3000, "a new file, not the old one reused")
	require.Equal(t, 1, w.Stats().HeldFiles, "the old log is held")
	got, err := vfs.ReadFile(c, "1.log")
	require.NoError(t, err)
	require.Equal(t, old, got)
	require.Zero(t, c.Stats().OverlayBytes, "the copier copied nothing")
	// 2.log is the writer's own since the reset: reused in place, its
	// writes need no round.
	require.True(t, w.Unread("2.log"))
	calls := w.Stats().StabilizeCalls
	f, err = p.ReuseForWrite("2.log", "3.log", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	write(f, 100)
	data, err = vfs.ReadFile(w, "3.log")
	require.NoError(t, err)
	require.Len(t, data, 3000, "reused in place")
	require.Equal(t, calls+1, w.Stats().StabilizeCalls, "one round: the new name's absence, as for a create")
	require.Zero(t, c.Stats().OverlayBytes)
	require.False(t, c.Unread("1.log"), "a copier never says a file is unread")
	require.NoError(t, w.Check())
	require.NoError(t, c.Check())
}

// TestFS_ReuseForWrite_cowWithoutHolds: without cow.Options.HoldRemoved
// a removal copies the old log whole, as the rename does: the log is
// reused in place (a new one would only be slower to sync).
func TestFS_ReuseForWrite_cowWithoutHolds(t *testing.T) {
	ctx := context.Background()
	shared := vfs.NewMem()
	opts := cow.Options{BlockSize: 512}
	c, err := cow.NewCopier(shared, opts)
	require.NoError(t, err)
	w, err := cow.NewWriter(shared, cow.NewDirect(c), opts)
	require.NoError(t, err)
	require.False(t, w.HoldsRemoved())
	old := bytes.Repeat([]byte{'o'}, 4000)
	require.NoError(t, vfs.WriteFile(w, "1.log", old, 0o644))
	require.NoError(t, c.Reset(ctx, w))
	f, err := pebblevfs.New(w).ReuseForWrite("1.log", "2.log", pvfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	data, err := vfs.ReadFile(w, "2.log")
	require.NoError(t, err)
	require.Equal(t, old, data, "reused in place")
	got, err := vfs.ReadFile(c, "1.log")
	require.NoError(t, err)
	require.Equal(t, old, got)
}

func TestFS_names(t *testing.T) {
	p := pebblevfs.New(vfs.NewMem())
	require.NoError(t, p.MkdirAll("/db/sub/", 0o755))
	fi, err := p.Stat("db/./sub")
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	names, err := p.List("/db")
	require.NoError(t, err)
	require.Equal(t, []string{"sub"}, names)
	_, err = p.Stat("../x")
	require.ErrorIs(t, err, pebblevfs.ErrOutsideRoot)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	_, err = p.GetDiskUsage("db")
	require.ErrorIs(t, err, pvfs.ErrUnsupported)
	require.Equal(t, "db/x", p.PathJoin("db", "x"))
	require.Equal(t, "x", p.PathBase("db/x"))
	require.Equal(t, "db", p.PathDir("db/x"))
	require.NoError(t, p.RemoveAll("db"))
	require.NoError(t, p.RemoveAll("db"))
}

func TestFS_Lock(t *testing.T) {
	p := pebblevfs.New(vfs.NewMem())
	l, err := p.Lock("LOCK")
	require.NoError(t, err)
	_, err = p.Lock("LOCK")
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, l.Close())
	l, err = p.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())
}
