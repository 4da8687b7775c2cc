package cow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

// TestMoveReview_heldNumberReusedAtFollowedPath: a writer fenced between
// a hold's round and its move leaves copiers told of number 1 for f; the
// next writer gives number 1 to the file that the copiers follow (renamed
// g to h by the first writer), whose path they read no file at. The
// copiers must take f whole before the number is reused, never read the
// followed file in f's place.
func TestMoveReview_heldNumberReusedAtFollowedPath(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	oldF, oldG := fill(1500, 'F'), fill(900, 'G')
	require.NoError(t, vfs.WriteFile(w, "g", oldG, 0o644))
	writeReset(t, w, cs, "f", oldF)
	require.NoError(t, w.Rename("g", "h"))
	for _, c := range cs {
		require.True(t, c.follows("h"))
	}
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Remove("f"))
	w2 := nextWriter(t, raw, cs, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, w2.Remove("h"))
	_, err := raw.Stat(HeldPath(1))
	require.NoError(t, err, "the next writer gave number 1 to h")
	requireReads(t, cs, map[string][]byte{"f": oldF, "g": oldG, "h": nil})
}

// TestMoveReview_heldNumberReusedAtUnreadPath: the same with no follower:
// the next writer gives number 1 to a file that the copiers do not read
// from shared storage (each truncated its own g to nothing), so no node
// at g is told of the hold.
func TestMoveReview_heldNumberReusedAtUnreadPath(t *testing.T) {
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	oldF := fill(1500, 'F')
	require.NoError(t, vfs.WriteFile(w, "g", fill(900, 'G'), 0o644))
	writeReset(t, w, cs, "f", oldF)
	for _, c := range cs {
		f, err := c.Open("g", os.O_RDWR|os.O_TRUNC, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Remove("f"))
	w2 := nextWriter(t, raw, cs, Options{BlockSize: 512, HoldRemoved: true})
	require.NoError(t, w2.Remove("g"))
	_, err := raw.Stat(HeldPath(1))
	require.NoError(t, err, "the next writer gave number 1 to g")
	requireReads(t, cs, map[string][]byte{"f": oldF, "g": {}})
}

// TestMoveReview_concurrentRenamesAndWrites: one writer goroutine renames
// a file round a cycle of names while others write it through handles
// opened before and after the renames, create and remove files at the
// names it leaves, and batched rounds interleave with the moves. The
// copiers never reset: each must read the file's first content at its
// first name throughout, and nothing at the other names.
func TestMoveReview_concurrentRenamesAndWrites(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(8<<10, 'A')
	writeReset(t, w, cs, "a", old)
	names := []string{"a", "b", "c"}
	h, err := w.Open("a", os.O_RDWR, 0)
	require.NoError(t, err)
	defer h.Close()
	done := make(chan struct{})
	errs := make(chan error, 8)
	go func() { // renames
		defer close(done)
		for i := range 60 {
			from, to := names[i%3], names[(i+1)%3]
			if err := w.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	run := func(f func(i int) error) {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	run(func(i int) error { // through the handle opened before the renames
		_, err := h.WriteAt(fill(700, byte('0'+i%10)), int64(i*311)%(8<<10))
		return err
	})
	run(func(i int) error { // by whichever name holds it now
		for _, p := range names {
			f, err := w.Open(p, os.O_RDWR, 0)
			if err != nil {
				continue
			}
			_, err = f.WriteAt(fill(300, 'W'), int64(i*97)%(8<<10))
			f.Close()
			return err
		}
		return nil
	})
	run(func(i int) error { // files created and removed at the names left
		p := names[i%3]
		err := vfs.WriteFile(w, p, fill(100+i%900, 'N'), 0o644)
		if err != nil {
			return err
		}
		if i%2 == 0 {
			if err := w.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	run(func(i int) error { // the copiers read all along
		c := cs[i%2]
		got, err := vfs.ReadFile(c, "a")
		if err != nil {
			return err
		}
		if !bytes.Equal(got, old) {
			return errors.New("copier reads a changed a")
		}
		if _, err := c.Stat(names[1+i%2]); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("copier stats %s: %v", names[1+i%2], err)
		}
		return nil
	})
	for range 5 {
		require.NoError(t, <-errs)
	}
	select {
	case err := <-errs:
		require.NoError(t, err)
	default:
	}
	requireReads(t, cs, map[string][]byte{"a": old, "b": nil, "c": nil})
	require.NoError(t, w.Check())
}

// TestMoveReview_replacedTargetFollowed: followers already answer to a
// rename's target (a move to it failed after its round, and a file moved
// there and away again); files then replace the target, one of them the
// followed file itself. Copiers keep their views at every name, and the
// writer's and copiers' bookkeeping stays consistent.
func TestMoveReview_replacedTargetFollowed(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	want := map[string][]byte{"a": fill(1500, 'A'), "c": fill(1100, 'C'), "d": fill(700, 'D')}
	writeAllReset(t, w, cs, want)
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Rename("a", "b")) // a's readers answer to b
	w.SetGuard(nil)
	require.NoError(t, w.Rename("c", "b")) // c's readers too; c moves there
	require.NoError(t, w.Rename("b", "e")) // and away
	require.NoError(t, vfs.WriteFile(w, "b", fill(300, 'N'), 0o644))
	write := func(p string, off int64) {
		t.Helper()
		overwrite(t, w, p, off, fill(600, 'W'))
	}
	write("e", 0)
	require.NoError(t, w.Rename("d", "b")) // replaces the new b
	write("b", 100)
	require.NoError(t, w.Rename("a", "b")) // replaces d, at b
	write("b", 900)
	require.NoError(t, w.Rename("e", "b")) // c's file back over a's
	write("b", 300)
	want["b"], want["e"] = nil, nil
	requireReads(t, cs, want)
	require.NoError(t, w.Remove("b"))
	collectAll(t, w, cs, want)
	require.NoError(t, w.Check())
}

// TestMoveReview_directoryOfMovedFiles: files moved into a directory,
// the directory renamed, its files changed, removed into the holding
// area one by one and collected, the directory removed: the copiers keep
// the files at their first names.
func TestMoveReview_directoryOfMovedFiles(t *testing.T) {
	_, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	want := map[string][]byte{"x": fill(1500, 'X'), "y": fill(1100, 'Y')}
	writeAllReset(t, w, cs, want)
	require.NoError(t, w.MkdirAll("d", 0o755))
	require.NoError(t, w.Rename("x", "d/x"))
	require.NoError(t, w.Rename("y", "d/y"))
	require.NoError(t, w.Rename("d", "e"))
	require.NoError(t, vfs.WriteFile(w, "x", fill(10, 'n'), 0o644))
	overwrite(t, w, "e/y", 200, fill(2000, 'W'))
	want["d"], want["e"] = nil, nil
	requireReads(t, cs, want)
	require.NoError(t, w.Remove("e/x"))
	require.NoError(t, w.Remove("e/y"))
	require.NoError(t, w.Remove("e"))
	requireReads(t, cs, want)
	collectAll(t, w, cs, want)
	require.NoError(t, w.Check())
}

// TestMoveReview_nextWriter: the writer renames a file that copiers read
// and is replaced by another writer on the same storage (restarted, with
// or without HoldRemoved), which knows nothing of the followers: it
// changes the file at its new name, renames it on, removes it, collects.
// The copiers keep the old content at the old name.
func TestMoveReview_nextWriter(t *testing.T) {
	ctx := context.Background()
	for _, hold := range []bool{false, true} {
		raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
		old := fill(2500, 'A')
		writeReset(t, w, cs, "a", old)
		require.NoError(t, w.Rename("a", "b"))
		w2 := nextWriter(t, raw, cs, Options{BlockSize: 512, HoldRemoved: hold})
		f, err := w2.Open("b", os.O_RDWR, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(fill(700, 'W'), 600)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.NoError(t, w2.Rename("b", "c"))
		require.NoError(t, vfs.WriteFile(w2, "a", fill(10, 'n'), 0o644))
		f, err = w2.Open("c", os.O_RDWR, 0)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(1000))
		require.NoError(t, f.Close())
		want := map[string][]byte{"a": old, "b": nil, "c": nil}
		requireReads(t, cs, want)
		require.NoError(t, w2.Remove("c"))
		_, err = w2.CollectHeld(ctx, true)
		require.NoError(t, err)
		requireReads(t, cs, want)
		for _, c := range cs {
			require.Zero(t, c.Stats().FollowedFiles, "hold %v", hold)
		}
		require.NoError(t, w2.Check())
	}
}

// TestMoveReview_promoteAfterFailedMove: a rename fails after its round
// (every copier follows the file, still at its name), then the writer is
// fenced and a copier promoted: shared storage becomes its view, and the
// other copier, which follows the file too, keeps its view while the new
// writer overwrites, renames and removes the file.
func TestMoveReview_promoteAfterFailedMove(t *testing.T) {
	ctx := context.Background()
	raw, w, cs := holdSetup(t, Options{BlockSize: 512, HoldRemoved: true})
	old := fill(2000, 'A')
	writeReset(t, w, cs, "f", old)
	w.SetGuard(func(context.Context) error { return errors.New("fenced") })
	require.Error(t, w.Rename("f", "g"))
	require.NoError(t, cs[0].Promote(ctx, NewDirect(cs[1])))
	got, err := vfs.ReadFile(raw, "f")
	require.NoError(t, err)
	require.Equal(t, old, got)
	p := cs[0]
	fh, err := p.Open("f", os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = fh.WriteAt(fill(900, 'N'), 300)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	require.NoError(t, p.Rename("f", "g"))
	requireReads(t, cs[1:], map[string][]byte{"f": old, "g": nil})
	require.NoError(t, p.Remove("g"))
	_, err = p.CollectHeld(ctx, true)
	require.NoError(t, err)
	requireReads(t, cs[1:], map[string][]byte{"f": old, "g": nil})
	require.NoError(t, p.Check())
}
