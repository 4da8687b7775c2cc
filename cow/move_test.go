package cow

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

// requireReads checks that every copier reads want at each path (nil:
// the path is missing) and passes its Check.
func requireReads(t *testing.T, cs []*View, want map[string][]byte) {
	t.Helper()
	for i, c := range cs {
		for p, b := range want {
			got, err := vfs.ReadFile(c, p)
			if b == nil {
				require.ErrorIs(t, err, fs.ErrNotExist, "copier %d: %s", i, p)
				continue
			}
			require.NoError(t, err, "copier %d: %s", i, p)
			require.Equal(t, b, got, "copier %d reads the old %s", i, p)
		}
		require.NoError(t, c.Check(), "copier %d", i)
	}
}

// writeAllReset writes each file of want at the writer, then resets
// every copier onto them.
func writeAllReset(t *testing.T, w *View, cs []*View, want map[string][]byte) {
	t.Helper()
	for p, b := range want {
		require.NoError(t, vfs.WriteFile(w, p, b, 0o644))
	}
	for _, c := range cs {
		require.NoError(t, c.Reset(context.Background(), w))
	}
}

// overwrite writes data at off into the file at name, through the writer.
func overwrite(t *testing.T, w *View, name string, off int64, data []byte) {
	t.Helper()
	f, err := w.Open(name, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(data, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// collectAll collects every held file at the writer, then checks that
// the copiers still read want and follow nothing any more (each release
// took its file whole).
func collectAll(t *testing.T, w *View, cs []*View, want map[string][]byte) {
	t.Helper()
	_, err := w.CollectHeld(context.Background(), true)
	require.NoError(t, err)
	requireReads(t, cs, want)
	for _, c := range cs {
		require.Zero(t, c.Stats().FollowedFiles)
	}
}

// TestMove_recycle: with HoldRemoved, a file the writer renames moves
// with its copiers' readers: none copies a byte at the rename (by name,
// or through a handle opened before it), and when the writer then
// overwrites part of the file at its new name, each copier preserves
// that part only, as an LSM engine's recycled log would make it.
// Without the option each copier copies the whole file at the rename.
func TestMove_recycle(t *testing.T) {
	old := fill(64<<10, 'A')
	for _, hold := range []bool{false, true} {
		_, w, cs := holdSetup(t, Options{BlockSize: 4096, HoldRemoved: hold})
		writeReset(t, w, cs, "t", old)
		h, err := cs[0].Open("t", os.O_RDONLY, 0)
		require.NoError(t, err)
		require.NoError(t, w.Rename("t", "u"))
		if !hold {
			require.Equal(t, int64(2*len(old)), overlayBytes(cs), "whole-file preservation")
			require.NoError(t, h.Close())
			continue
		}
		require.Zero(t, overlayBytes(cs), "zero-copy rename")
		for _, c := range cs {
			require.Equal(t, 1, c.Stats().FollowedFiles)
			require.True(t, c.follows("u"))
		}
		// The writer reuses it: overwrites its first 10 KiB (3 blocks)
		// in place, and writes a new t.
		overwrite(t, w, "u", 0, fill(10<<10, 'N'))
		require.NoError(t, vfs.WriteFile(w, "t", fill(100, 'B'), 0o644))
		requireReads(t, cs, map[string][]byte{"t": old, "u": nil})
		require.Equal(t, int64(2*3*4096), overlayBytes(cs), "only the overwritten blocks")
		buf := make([]byte, len(old))
		_, err = h.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, old, buf, "a handle open across the rename")
		require.NoError(t, h.Close())
		require.NoError(t, w.Check())
		// A copier that resets sees the new state and follows nothing.
		require.NoError(t, cs[1].Reset(context.Background(), w))
		require.Zero(t, cs[1].Stats().FollowedFiles)
		got, err := vfs.ReadFile(cs[1], "u")
		require.NoError(t, err)
		require.Equal(t, fill(10<<10, 'N'), got[:10<<10])
	}
}

// TestMove_chain: a file renamed again and again, then over another
// file, then removed into the holding area and collected: copiers keep
// reading its old content at its old name throughout, preserving it from
// wherever the writer changes it; the file it replaced is preserved
// whole, as before.
func TestMove_chain(t *testing.T) {
	ctx := context.Background()
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	want := map[string][]byte{"a": fill(3000, 'A'), "r": fill(900, 'R')}
	writeAllReset(t, w, cs, want)
	write := func(p string, b byte, off int64) {
		t.Helper()
		overwrite(t, w, p, off, fill(700, b))
	}
	require.NoError(t, w.Rename("a", "b"))
	write("b", '1', 0)
	require.NoError(t, w.Rename("b", "c"))
	write("c", '2', 1000)
	require.NoError(t, w.Rename("c", "r")) // replaces r
	write("r", '3', 2000)
	want["b"], want["c"] = nil, nil
	requireReads(t, cs, want)
	require.NoError(t, w.Remove("r"))
	require.Equal(t, 1, w.Stats().HeldFiles)
	requireReads(t, cs, want)
	k, err := w.CollectHeld(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 1, k)
	requireReads(t, cs, want)
	for _, c := range cs {
		require.Zero(t, c.Stats().FollowedFiles, "the release took the file whole")
	}
	require.NoError(t, w.Check())
}

// TestMove_failedRename: a rename that fails after its round (the guard
// refuses) leaves the file at its name, with copiers following it
// through their handles: the writer's later changes there are preserved
// for them, and a file the writer then creates at the other name is none
// of theirs.
func TestMove_failedRename(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(1500, 'A')
	writeReset(t, w, cs, "f", old)
	refuse := errors.New("fenced")
	w.SetGuard(func(context.Context) error { return refuse })
	require.ErrorIs(t, w.Rename("f", "g"), refuse)
	w.SetGuard(nil)
	overwrite(t, w, "f", 100, fill(600, 'C'))
	require.NoError(t, vfs.WriteFile(w, "g", fill(2000, 'G'), 0o644))
	requireReads(t, cs, map[string][]byte{"f": old, "g": nil})
	// The same rename again needs no round (every copier already
	// follows f to g), and succeeds; g's new file is replaced.
	calls := w.Stats().StabilizeCalls
	require.NoError(t, w.Remove("g"))
	require.NoError(t, w.Rename("f", "g"))
	require.Equal(t, calls, w.Stats().StabilizeCalls, "no round")
	overwrite(t, w, "g", 0, fill(1500, 'D'))
	requireReads(t, cs, map[string][]byte{"f": old, "g": nil})
	require.NoError(t, w.Check())
}

// TestMove_directory: a directory renamed with its files: each file moves
// with its readers, whose later overwrites at the new paths are preserved
// at the old ones.
func TestMove_directory(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, w.MkdirAll("d/s", 0o755))
	want := map[string][]byte{"d/x": fill(1100, 'X'), "d/s/y": fill(1300, 'Y')}
	writeAllReset(t, w, cs, want)
	require.NoError(t, w.Rename("d", "e"))
	require.Zero(t, overlayBytes(cs))
	for _, p := range []string{"e/x", "e/s/y"} {
		overwrite(t, w, p, 0, fill(600, 'N'))
	}
	want["e/x"], want["e/s/y"] = nil, nil
	requireReads(t, cs, want)
	for _, c := range cs {
		names, err := c.List("d")
		require.NoError(t, err)
		require.Equal(t, []string{"s", "x"}, names)
		require.Equal(t, 2, c.Stats().FollowedFiles)
	}
	require.NoError(t, w.Check())
}

// TestMove_promote: a copier that follows a renamed file is promoted:
// shared storage becomes its view (the old content at the old name, the
// new name gone), and the other copier, which follows the file too, keeps
// its view through the pushes.
func TestMove_promote(t *testing.T) {
	ctx := context.Background()
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(3000, 'A')
	writeReset(t, w, cs, "f", old)
	require.NoError(t, w.Rename("f", "g"))
	overwrite(t, w, "g", 0, fill(700, 'N'))
	// w is fenced (discarded); cs[0] becomes the writer.
	require.NoError(t, cs[0].Promote(ctx, NewDirect(cs[1])))
	got, err := vfs.ReadFile(raw, "f")
	require.NoError(t, err)
	require.Equal(t, old, got, "shared storage is the promoted view")
	_, err = raw.Stat("g")
	require.ErrorIs(t, err, fs.ErrNotExist)
	requireReads(t, cs[1:], map[string][]byte{"f": old, "g": nil})
	require.NoError(t, cs[0].Check())
	// The new writer changes f: the other copier keeps its view.
	require.NoError(t, vfs.WriteFile(cs[0], "f", fill(10, 'B'), 0o644))
	requireReads(t, cs[1:], map[string][]byte{"f": old, "g": nil})
}

// TestMove_copierWrites: a copier writes to and truncates a file it
// follows: its own bytes stay its own, the rest reads from the moved file
// as it was.
func TestMove_copierWrites(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(3000, 'A')
	writeReset(t, w, cs, "f", old)
	require.NoError(t, w.Rename("f", "g"))
	c := cs[0]
	f, err := c.Open("f", os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(fill(100, 'C'), 1000)
	require.NoError(t, err)
	wf, err := w.Open("g", os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = wf.WriteAt(fill(3000, 'N'), 0)
	require.NoError(t, err)
	require.NoError(t, wf.Close())
	want := fill(3000, 'A')
	copy(want[1000:], fill(100, 'C'))
	got, err := vfs.ReadFile(c, "f")
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, f.Truncate(0))
	require.Zero(t, c.Stats().FollowedFiles, "cut to nothing: it reads no shared byte")
	require.NoError(t, f.Close())
	require.NoError(t, c.Check())
}
