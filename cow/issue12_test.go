package cow

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// pair is a writer and one copier over a fresh Mem, the copier reset once
// so that its view is a prefix.
func newPair(t *testing.T) (raw *vfs.MemFS, w, c *View) {
	t.Helper()
	raw = vfs.NewMem()
	opts := Options{BlockSize: 512}
	c, err := NewCopier(raw, opts)
	must(t, err)
	w, err = NewWriter(raw, NewDirect(c), opts)
	must(t, err)
	must(t, c.Reset(context.Background(), w))
	return raw, w, c
}

// TestCopier_Reset_openHandleSeesNewState guards invariant 1 for files
// open across a Reset: such a file finds its file by name in the new view,
// so once the writer creates that name after the reset, the copier's
// handle must see the absence its view has, never the writer's bytes; a
// write through it must not land in a directory the view made at that
// name; and Promote must succeed with it open.
func TestCopier_Reset_openHandleSeesNewState(t *testing.T) {
	ctx := context.Background()
	raw, w, c := newPair(t)
	h, err := c.Open("a", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer h.Close()
	must(t, c.Reset(ctx, w))
	must(t, vfs.WriteFile(w, "a", []byte("writer's bytes"), 0o644))

	_, err = c.Stat("a")
	wantIs(t, err, fs.ErrNotExist)
	_, err = h.ReadAt(make([]byte, 4), 0)
	wantIs(t, err, fs.ErrNotExist, "a handle found by name reads past the view's whiteout")
	_, err = h.Size()
	wantIs(t, err, fs.ErrNotExist)
	_, err = h.WriteAt([]byte("x"), 0)
	wantIs(t, err, fs.ErrNotExist)
	must(t, c.Check())

	// The view makes a directory at that name: the handle is not a way
	// into it.
	must(t, c.MkdirAll("a", 0o755))
	_, err = h.WriteAt([]byte("x"), 0)
	wantIs(t, err, vfs.ErrIsDir)
	must(t, c.Check())

	// Promote succeeds with the handle open; the handle keeps failing as
	// it did, and shared storage is the view.
	must(t, c.Promote(ctx, NewDirect()))
	_, err = h.ReadAt(make([]byte, 4), 0)
	wantIs(t, err, vfs.ErrIsDir)
	fi, err := raw.Stat("a")
	must(t, err)
	if !fi.IsDir() {
		t.Fatalf("shared a is not a directory")
	}
	must(t, c.Check())
}

// TestCopier_Promote_lockFollowsFile guards invariant 6 and vfs.FS's
// lock semantics at a copier: a lock belongs to the file, so it follows a
// rename, a new file at the old name is not locked, and Promote takes the
// shared lock on the file where it is, creating nothing that the view
// does not have, even when the locked file was removed with its directory.
func TestCopier_Promote_lockFollowsFile(t *testing.T) {
	ctx := context.Background()
	raw, w, c := newPair(t)
	must(t, w.MkdirAll("d", 0o755))
	must(t, c.Reset(ctx, w))

	la, err := c.Lock("a")
	must(t, err)
	must(t, c.Rename("a", "b"))
	_, err = c.Lock("b")
	wantIs(t, err, vfs.ErrLocked, "the lock stays with the renamed file")
	la2, err := c.Lock("a")
	must(t, err) // a new file at the old name is another file
	must(t, la2.Close())
	must(t, c.Remove("a"))

	lx, err := c.Lock("d/x")
	must(t, err)
	must(t, c.Remove("d/x"))
	must(t, c.Remove("d"))

	must(t, c.Promote(ctx, NewDirect()))
	names, err := raw.List(".")
	must(t, err)
	if len(names) != 1 || names[0] != "b" {
		t.Fatalf("shared storage lists %q, want [b]: it gained what the view never had", names)
	}
	_, err = c.Lock("b")
	wantIs(t, err, vfs.ErrLocked, "the promoted lock holds the shared file")
	must(t, la.Close())
	lb, err := c.Lock("b")
	must(t, err)
	must(t, lb.Close())
	must(t, lx.Close())
	must(t, c.Check())
}

// TestWriter_ResetCopier_afterFailedLockUnderFile guards garbage
// collection: a writer Lock that fails because the parent is a file
// changes nothing, so it must not make every later ResetCopier fail.
func TestWriter_ResetCopier_afterFailedLockUnderFile(t *testing.T) {
	ctx := context.Background()
	_, w, c := newPair(t)
	must(t, vfs.WriteFile(w, "f", []byte("file"), 0o644))
	_, err := w.Lock("f/x")
	wantIs(t, err, vfs.ErrNotDir)
	must(t, c.Reset(ctx, w))
	must(t, c.Reset(ctx, w))
}

// TestWriter_ResetCopier_afterDirReplacedByFile guards garbage collection
// when a directory the writer changed is removed, or renamed away, and a
// file takes its name.
func TestWriter_ResetCopier_afterDirReplacedByFile(t *testing.T) {
	ctx := context.Background()
	_, w, c := newPair(t)
	must(t, w.MkdirAll("e", 0o755))
	must(t, w.MkdirAll("g", 0o755))
	must(t, c.Reset(ctx, w))
	must(t, vfs.WriteFile(w, "e/x", []byte("x"), 0o644))
	must(t, w.Remove("e/x"))
	must(t, w.Remove("e"))
	must(t, vfs.WriteFile(w, "e", []byte("now a file"), 0o644))
	must(t, vfs.WriteFile(w, "g/x", []byte("x"), 0o644))
	must(t, w.Rename("g", "h"))
	must(t, vfs.WriteFile(w, "g", []byte("now a file"), 0o644))
	must(t, c.Reset(ctx, w))
	must(t, c.Reset(ctx, w))
}

// TestWriter_ResetCopier_syncsRenamedDirtyDir guards what invariant 5's
// prefix argument relies on: ResetCopier syncs every directory changed
// since the last reset, also one renamed since, so a crash right after it
// keeps the entry made in it.
func TestWriter_ResetCopier_syncsRenamedDirtyDir(t *testing.T) {
	ctx := context.Background()
	raw, w, c := newPair(t)
	must(t, w.MkdirAll("e/sub", 0o755))
	must(t, c.Reset(ctx, w))
	f, err := w.Open("e/sub/x", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	_, err = f.WriteAt([]byte("synced"), 0)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	must(t, w.Rename("e", "f"))
	must(t, c.Reset(ctx, w))

	crashed := raw.CrashClone(vfs.CrashOptions{})
	got, err := vfs.ReadFile(crashed, "f/sub/x")
	must(t, err) // a crash after the reset lost the entry
	if string(got) != "synced" {
		t.Fatalf("f/sub/x after a crash = %q", got)
	}
}

// TestWriter_Create_underFileLeavesNoWhiteout guards the copier's error
// kinds: a writer create under a file fails and asks copiers to preserve
// nothing, so a copier still says not-a-directory there.
func TestWriter_Create_underFileLeavesNoWhiteout(t *testing.T) {
	_, w, c := newPair(t)
	must(t, vfs.WriteFile(w, "f", []byte("file"), 0o644))
	must(t, c.Reset(context.Background(), w))
	for _, op := range []func() error{
		func() error { _, err := w.Open("f/x", os.O_RDWR|os.O_CREATE, 0o644); return err },
		func() error { _, err := w.Lock("f/x"); return err },
		func() error { return w.MkdirAll("f/x", 0o755) },
		func() error { return w.Rename("f", "f/x") },
	} {
		wantIs(t, op(), vfs.ErrNotDir)
		_, err := c.Stat("f/x")
		wantIs(t, err, vfs.ErrNotDir)
	}
	if n := c.Stats().OverlayFiles; n != 0 {
		t.Fatalf("the copier overlays %d paths after failed writer mutations", n)
	}
}

// TestCopier_Rename_dirOntoItself guards the copier's agreement with
// vfs.MemFS and rename(2): a directory renamed onto itself gets
// fs.ErrExist (a file onto itself does nothing).
func TestCopier_Rename_dirOntoItself(t *testing.T) {
	_, w, c := newPair(t)
	must(t, w.MkdirAll("e", 0o755))
	must(t, vfs.WriteFile(w, "a", nil, 0o644))
	must(t, c.Reset(context.Background(), w))
	wantIs(t, c.Rename("e", "e"), fs.ErrExist)
	must(t, c.MkdirAll("n", 0o755))
	wantIs(t, c.Rename("n", "n"), fs.ErrExist)
	must(t, c.Rename("a", "a"))
	wantIs(t, c.Rename("missing", "f/x"), fs.ErrNotExist)
}

// wantIs fails t unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error, why ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got %v, want %v %v", err, target, why)
	}
}

// TestCopier_Promote_locksFoundByOneName guards Promote with two copier
// locks that a Reset made find their files by one name (the first was
// taken on a file removed since, the second on the new file at that
// name): both then hold that file, Promote takes its shared lock once, and
// the lock is released with the last of them.
func TestCopier_Promote_locksFoundByOneName(t *testing.T) {
	ctx := context.Background()
	raw, w, c := newPair(t)
	must(t, vfs.WriteFile(w, "b", []byte("b"), 0o644))
	must(t, c.Reset(ctx, w))
	l1, err := c.Lock("b")
	must(t, err)
	must(t, c.Remove("b"))
	l2, err := c.Lock("b")
	must(t, err)
	must(t, c.Reset(ctx, w))
	_, err = c.Lock("b")
	wantIs(t, err, vfs.ErrLocked)
	must(t, c.Promote(ctx, NewDirect()))
	_, err = raw.Lock("b")
	wantIs(t, err, vfs.ErrLocked)
	must(t, l1.Close())
	_, err = raw.Lock("b")
	wantIs(t, err, vfs.ErrLocked, "released with the first of two holders")
	must(t, l2.Close())
	l, err := raw.Lock("b")
	must(t, err)
	must(t, l.Close())
	must(t, c.Check())
}

// TestCopier_Reset_openHandleUnderReplacedDir guards the error a file
// found by name gets when its name is missing below a directory the
// copier preserved: the view's not-exist, not the not-a-directory of the
// file the writer put in the directory's place.
func TestCopier_Reset_openHandleUnderReplacedDir(t *testing.T) {
	ctx := context.Background()
	_, w, c := newPair(t)
	must(t, w.MkdirAll("a", 0o755))
	must(t, c.Reset(ctx, w))
	h, err := c.Open("a/x", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer h.Close()
	must(t, c.Reset(ctx, w))
	must(t, w.Remove("a"))
	must(t, vfs.WriteFile(w, "a", []byte("file"), 0o644))
	_, err = h.Size()
	wantIs(t, err, fs.ErrNotExist)
	_, err = h.ReadAt(make([]byte, 1), 0)
	wantIs(t, err, fs.ErrNotExist)
	_, err = c.Stat("a/x")
	wantIs(t, err, fs.ErrNotExist)
}

// TestWriter_ResetCopier_syncErrorSaysCow: a failed sync in ResetCopier
// comes back prefixed by the package, with the storage's error underneath
// for errors.Is, and drop is not called.
func TestWriter_ResetCopier_syncErrorSaysCow(t *testing.T) {
	raw := vfs.NewMem()
	toggle := errorfs.NewToggle(errorfs.OnKinds(errorfs.Always(), errorfs.OpSyncDir))
	w, err := NewWriter(errorfs.WithErrors(raw, toggle), NewDirect(), Options{BlockSize: 512})
	must(t, err)
	must(t, w.MkdirAll("d", 0o755))
	toggle.Arm()
	dropped := false
	err = w.ResetCopier(context.Background(), func() error { dropped = true; return nil })
	wantIs(t, err, vfs.ErrInjected)
	if !strings.Contains(err.Error(), "cow: ") || dropped {
		t.Fatalf("ResetCopier = %v (dropped %v), want a cow: error and no drop", err, dropped)
	}
}
