package cow

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

// holdSetup is a writer and two copiers over a fresh Mem, both copiers
// reset once, every view with opts.
func holdSetup(t *testing.T, opts Options) (raw *vfs.MemFS, w *View, cs []*View) {
	t.Helper()
	raw = vfs.NewMem()
	d := NewDirect()
	for range 2 {
		c, err := NewCopier(raw, opts)
		require.NoError(t, err)
		d.Add(c)
		cs = append(cs, c)
	}
	w, err := NewWriter(raw, d, opts)
	require.NoError(t, err)
	for _, c := range cs {
		require.NoError(t, c.Reset(context.Background(), w))
	}
	return raw, w, cs
}

// nextWriter is a writer started on raw after the last one was fenced,
// with the copiers cs behind an in-process Stabilizer.
func nextWriter(t *testing.T, raw vfs.FS, cs []*View, opts Options) *View {
	t.Helper()
	d := NewDirect()
	for _, c := range cs {
		d.Add(c)
	}
	w, err := NewWriter(raw, d, opts)
	require.NoError(t, err)
	return w
}

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// writeReset writes data to name at the writer, then resets every copier
// onto it.
func writeReset(t *testing.T, w *View, cs []*View, name string, data []byte) {
	t.Helper()
	require.NoError(t, vfs.WriteFile(w, name, data, 0o644))
	for _, c := range cs {
		require.NoError(t, c.Reset(context.Background(), w))
	}
}

// overlayBytes sums the copiers' overlay bytes.
func overlayBytes(cs []*View) int64 {
	var n int64
	for _, c := range cs {
		n += c.Stats().OverlayBytes
	}
	return n
}

// TestHold_remove: with HoldRemoved, a file the writer removes moves into
// the holding area and copiers keep reading its old content there, by
// name and through a handle opened before the remove, with no byte in
// their overlays; a new file at the name stays invisible to them. Without
// the option they copy the whole file (the baseline the test compares).
func TestHold_remove(t *testing.T) {
	ctx := context.Background()
	old := fill(64<<10, 'A')
	for _, hold := range []bool{false, true} {
		raw, w, cs := holdSetup(t, Options{BlockSize: 4096, HoldRemoved: hold, HoldResets: 3})
		writeReset(t, w, cs, "t", old)
		h, err := cs[0].Open("t", os.O_RDONLY, 0)
		require.NoError(t, err)
		require.NoError(t, w.Remove("t"))
		require.NoError(t, vfs.WriteFile(w, "t", fill(100, 'B'), 0o644))
		for i, c := range cs {
			got, err := vfs.ReadFile(c, "t")
			require.NoError(t, err)
			require.Equal(t, old, got, "copier %d reads the removed file's content", i)
			require.NoError(t, c.Check())
		}
		buf := make([]byte, len(old))
		_, err = h.ReadAt(buf, 0)
		require.NoError(t, err)
		require.Equal(t, old, buf, "a handle open across the remove")
		require.NoError(t, h.Close())
		require.NoError(t, w.Check())
		_, err = raw.Stat(HeldPath(1))
		if !hold {
			require.Equal(t, int64(2*len(old)), overlayBytes(cs), "whole-file preservation")
			require.ErrorIs(t, err, fs.ErrNotExist)
			continue
		}
		require.Zero(t, overlayBytes(cs), "zero-copy")
		require.NoError(t, err, "the held file")
		require.Equal(t, 1, w.Stats().HeldFiles)
		// The new t, seen by copier 1 after its reset, is held in turn:
		// copier 0 keeps reading the first one.
		require.NoError(t, cs[1].Reset(ctx, w))
		require.NoError(t, w.Remove("t"))
		require.Equal(t, 2, w.Stats().HeldFiles)
		for i, want := range [][]byte{old, fill(100, 'B')} {
			got, err := vfs.ReadFile(cs[i], "t")
			require.NoError(t, err)
			require.Equal(t, want, got, "copier %d after the second remove", i)
		}
		names, err := w.List(".")
		require.NoError(t, err)
		require.Empty(t, names, "the holding area is not listed")
	}
}

// TestHold_collect: held files are collected once HoldResets resets have
// passed (copiers that reset read none: nothing copied), or all at once,
// when a copier that did not reset copies the file first and keeps its
// content. Deleting a held file that a copier still reads would fail the
// model (recFS.requireUnread); here the copier's reads show it.
func TestHold_collect(t *testing.T) {
	ctx := context.Background()
	old := fill(16<<10, 'A')
	raw, w, cs := holdSetup(t, Options{BlockSize: 4096, HoldRemoved: true, HoldResets: 2})
	for _, name := range []string{"x", "y"} {
		require.NoError(t, vfs.WriteFile(w, name, old, 0o644))
	}
	for _, c := range cs {
		require.NoError(t, c.Reset(ctx, w))
	}
	require.NoError(t, w.Remove("x"))
	// One reset: x is not due yet.
	require.NoError(t, cs[0].Reset(ctx, w))
	k, err := w.CollectHeld(ctx, false)
	require.NoError(t, err)
	require.Zero(t, k)
	// All: copier 1, which did not reset, copies x first.
	k, err = w.CollectHeld(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 1, k)
	_, err = raw.Stat(HeldPath(1))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Zero(t, cs[0].Stats().OverlayBytes)
	require.Equal(t, int64(len(old)), cs[1].Stats().OverlayBytes)
	got, err := vfs.ReadFile(cs[1], "x")
	require.NoError(t, err)
	require.Equal(t, old, got)

	// y: held, then both copiers reset; the next remove collects it in
	// its own round, and nobody copies anything.
	for _, c := range cs {
		require.NoError(t, c.Reset(ctx, w))
	}
	require.NoError(t, w.Remove("y"))
	for _, c := range cs {
		require.NoError(t, c.Reset(ctx, w))
	}
	require.NoError(t, vfs.WriteFile(w, "z", old, 0o644))
	before := w.Stats().StabilizeCalls
	require.NoError(t, w.Remove("z")) // created in this generation: no round but the release
	require.Equal(t, int64(1), w.Stats().StabilizeCalls-before)
	require.Zero(t, w.Stats().HeldFiles)
	require.Zero(t, overlayBytes(cs))
	names, err := raw.List(HoldDir)
	require.NoError(t, err)
	require.Empty(t, names)
	require.NoError(t, w.Check())
}

// TestHold_reserved: the holding area is no engine's: every call naming
// it or a path below it is refused with ErrReserved at both roles.
func TestHold_reserved(t *testing.T) {
	_, w, cs := holdSetup(t, Options{HoldRemoved: true})
	for _, v := range []*View{w, cs[0]} {
		for _, p := range []string{HoldDir, HeldPath(1), HoldDir + "/a/b"} {
			_, err := v.Open(p, os.O_RDWR|os.O_CREATE, 0o644)
			require.ErrorIs(t, err, ErrReserved)
			_, err = v.Stat(p)
			require.ErrorIs(t, err, ErrReserved)
			_, err = v.List(p)
			require.ErrorIs(t, err, ErrReserved)
			require.ErrorIs(t, v.Remove(p), ErrReserved)
			require.ErrorIs(t, v.Rename(p, "a"), ErrReserved)
			require.ErrorIs(t, v.Rename("a", p), ErrReserved)
			require.ErrorIs(t, v.MkdirAll(p, 0o755), ErrReserved)
			require.ErrorIs(t, v.SyncDir(p), ErrReserved)
			_, err = v.Lock(p)
			require.ErrorIs(t, err, ErrReserved)
			var pe *fs.PathError
			require.True(t, errors.As(err, &pe) && pe.Path == p, "a path error: %v", err)
		}
	}
	// A name that merely starts like it is the engine's.
	require.NoError(t, vfs.WriteFile(w, HoldDir+"x", []byte("ok"), 0o644))
}

// TestHold_crash: a crash with a held file keeps the writer's namespace
// (the holding area hidden), and a writer started on the crashed storage
// adopts the held file, numbers new ones past it and collects it.
func TestHold_crash(t *testing.T) {
	ctx := context.Background()
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, vfs.WriteFile(w, "a", fill(2000, 'A'), 0o644))
	require.NoError(t, vfs.WriteFile(w, "b", fill(700, 'B'), 0o644))
	for _, c := range cs {
		require.NoError(t, c.Reset(ctx, w))
	}
	require.NoError(t, w.Remove("a"))
	require.NoError(t, cs[0].Reset(ctx, w)) // syncs the hold
	for _, synced := range []bool{true, false} {
		if !synced {
			require.NoError(t, w.Remove("b")) // not synced: may or may not survive
		}
		clone := raw.CrashClone(vfs.CrashOptions{})
		c, err := NewCopier(clone, Options{BlockSize: 512})
		require.NoError(t, err)
		w2, err := NewWriter(clone, NewDirect(c), Options{BlockSize: 512, HoldRemoved: true, HoldResets: 5})
		require.NoError(t, err)
		require.NoError(t, c.Reset(ctx, w2))
		names, err := w2.List(".")
		require.NoError(t, err)
		k, err := w2.CollectHeld(ctx, false) // none due: it adopts them
		require.NoError(t, err)
		require.Zero(t, k)
		held := w2.Stats().HeldFiles
		if synced {
			require.Equal(t, []string{"b"}, names)
			require.Equal(t, 1, held)
		} else {
			require.Contains(t, [][]string{{"b"}, {}}, names)
			require.Equal(t, 2-len(names), held)
		}
		require.NoError(t, vfs.WriteFile(w2, "n", fill(10, 'N'), 0o644))
		require.NoError(t, c.Reset(ctx, w2))
		require.NoError(t, w2.Remove("n"))
		_, err = clone.Stat(HeldPath(int64(held + 1)))
		require.NoError(t, err, "a new held file is numbered past the adopted ones")
		got, err := vfs.ReadFile(c, "n")
		require.NoError(t, err)
		require.Equal(t, fill(10, 'N'), got)
		k, err = w2.CollectHeld(ctx, true)
		require.NoError(t, err)
		require.Equal(t, held+1, k)
		require.NoError(t, w2.Check())
		require.NoError(t, c.Check())
	}
}

// TestHold_promote: a copier promoted while held files exist makes its
// own view shared storage (it copies what it read of held files), adopts
// the holding area, and the other copier keeps reading the old content,
// also once the new writer collects the held file.
func TestHold_promote(t *testing.T) {
	ctx := context.Background()
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(3000, 'A')
	writeReset(t, w, cs, "f", old)
	require.NoError(t, w.Remove("f"))
	require.NoError(t, vfs.WriteFile(w, "f", fill(10, 'B'), 0o644))
	// w is fenced (discarded); cs[0] becomes the writer.
	require.NoError(t, cs[0].Promote(ctx, NewDirect(cs[1])))
	nw := cs[0]
	got, err := vfs.ReadFile(raw, "f")
	require.NoError(t, err)
	require.Equal(t, old, got, "shared storage is the promoted view")
	require.Equal(t, 1, nw.Stats().HeldFiles, "the held file is adopted")
	for _, v := range []*View{nw, cs[1]} {
		got, err := vfs.ReadFile(v, "f")
		require.NoError(t, err)
		require.Equal(t, old, got)
	}
	// f was pushed as a new file: removing it holds nothing.
	require.NoError(t, nw.Remove("f"))
	k, err := nw.CollectHeld(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 1, k)
	require.Zero(t, nw.Stats().HeldFiles)
	got, err = vfs.ReadFile(cs[1], "f")
	require.NoError(t, err)
	require.Equal(t, old, got, "the other copier after collection")
	require.NoError(t, nw.Check())
	require.NoError(t, cs[1].Check())
}

// TestHold_failedMove: a remove that fails after its round (the guard
// refuses) leaves copiers told of a held file that never appears: they
// keep reading the file at its name, preserve it as usual when the writer
// changes it, and follow the next remove to its new number.
func TestHold_failedMove(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(1500, 'A')
	writeReset(t, w, cs, "f", old)
	refuse := errors.New("fenced")
	w.SetGuard(func(context.Context) error { return refuse })
	require.ErrorIs(t, w.Remove("f"), refuse)
	w.SetGuard(nil)
	_, err := raw.Stat(HeldPath(1))
	require.ErrorIs(t, err, fs.ErrNotExist)
	overwrite(t, w, "f", 100, fill(600, 'C'))
	check := func() {
		t.Helper()
		for _, c := range cs {
			got, err := vfs.ReadFile(c, "f")
			require.NoError(t, err)
			require.Equal(t, old, got)
			require.NoError(t, c.Check())
		}
	}
	check()
	require.NoError(t, w.Remove("f"))
	_, err = raw.Stat(HeldPath(2))
	require.NoError(t, err)
	require.NoError(t, vfs.WriteFile(w, "f", fill(10, 'B'), 0o644))
	check()
	require.NoError(t, w.Check())
}

// TestHold_rename: a file renamed over another and a directory renamed
// away: copiers keep reading the old content at both names (a rename's
// replaced file is preserved as a whole), while held removes next to it
// copy nothing.
func TestHold_rename(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, w.MkdirAll("d", 0o755))
	want := map[string][]byte{"a": fill(700, 'A'), "b": fill(900, 'B'), "d/x": fill(1100, 'X'), "r": fill(1300, 'R')}
	writeAllReset(t, w, cs, want)
	require.NoError(t, w.Rename("a", "b"))
	require.NoError(t, w.Rename("d", "e"))
	require.NoError(t, w.Remove("r"))
	require.NoError(t, vfs.WriteFile(w, "b", fill(50, 'N'), 0o644))
	require.NoError(t, vfs.WriteFile(w, "e/x", fill(60, 'N'), 0o644))
	for _, c := range cs {
		for p, b := range want {
			got, err := vfs.ReadFile(c, p)
			require.NoError(t, err)
			require.Equal(t, b, got, "copier reads the old %s", p)
		}
		_, err := c.Stat("e")
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.NoError(t, c.Check())
	}
	require.Equal(t, 1, w.Stats().HeldFiles)
}

// TestHold_numberReusedByNextWriter: a writer fenced between a hold's
// round and its move leaves copiers told of a number that no file took;
// the next writer (restarted on the same storage, the copiers keeping
// their views) may give that number to another file. A copier must then
// take the first file whole, never read the second one in its place.
func TestHold_numberReusedByNextWriter(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	oldF, oldG := fill(1500, 'F'), fill(900, 'G')
	require.NoError(t, vfs.WriteFile(w, "g", oldG, 0o644))
	writeReset(t, w, cs, "f", oldF)
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Remove("f"))
	w2 := nextWriter(t, raw, cs, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, w2.Remove("g"))
	_, err := raw.Stat(HeldPath(1))
	require.NoError(t, err, "the next writer gave number 1 to g")
	for _, c := range cs {
		for name, want := range map[string][]byte{"f": oldF, "g": oldG} {
			got, err := vfs.ReadFile(c, name)
			require.NoError(t, err)
			require.Equal(t, want, got, "copier reads %s", name)
		}
		require.NoError(t, c.Check())
	}
}

// BenchmarkWriter_removeHeld removes 64 KiB files that two copiers read,
// with and without HoldRemoved, and reports the bytes the copiers' overlays
// took per removed file (whole-file preservation copies the file into
// each) and the rounds per remove:
//
//	go test ./cow -run '^$' -bench removeHeld
func BenchmarkWriter_removeHeld(b *testing.B) {
	data := fill(64<<10, 'x')
	for _, hold := range []bool{false, true} {
		b.Run(map[bool]string{false: "whole", true: "held"}[hold], func(b *testing.B) {
			ctx := context.Background()
			d := NewDirect()
			raw := vfs.NewMem()
			var cs []*View
			for range 2 {
				c, err := NewCopier(raw, Options{HoldRemoved: hold})
				must(b, err)
				d.Add(c)
				cs = append(cs, c)
			}
			w, err := NewWriter(raw, d, Options{HoldRemoved: hold, HoldResets: 1 << 30})
			must(b, err)
			for i := range b.N {
				must(b, vfs.WriteFile(w, "f"+strconv.Itoa(i), data, 0o644))
			}
			for _, c := range cs {
				must(b, c.Reset(ctx, w))
			}
			before := w.Stats().StabilizeCalls
			b.ResetTimer()
			for i := range b.N {
				must(b, w.Remove("f"+strconv.Itoa(i)))
			}
			b.StopTimer()
			b.ReportMetric(float64(overlayBytes(cs))/float64(b.N), "overlayB/remove")
			b.ReportMetric(float64(w.Stats().StabilizeCalls-before)/float64(b.N), "rounds/remove")
		})
	}
}
