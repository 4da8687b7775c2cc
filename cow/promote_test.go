package cow

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// TestCopier_Promote_openFiles checks invariant 6 with the awkward cases:
// files open at the copier (one of them removed while open), a rename, a
// directory, a lock, and a second copier whose view must not change.
// Shared storage must equal the promoted view byte for byte and be synced
// (a crash clone that keeps no unsynced change still equals it).
func TestCopier_Promote_openFiles(t *testing.T) {
	ctx := context.Background()
	const bs = 512
	raw := vfs.NewMem()
	must(t, raw.MkdirAll("d", 0o755))
	must(t, vfs.WriteFile(raw, "a", bytes.Repeat([]byte("a"), 3*bs), 0o644))
	must(t, vfs.WriteFile(raw, "b", []byte("bee"), 0o644))
	must(t, vfs.WriteFile(raw, "d/x", bytes.Repeat([]byte("x"), bs+7), 0o644))
	must(t, raw.SyncDir("."))
	must(t, raw.SyncDir("d"))
	opts := Options{BlockSize: bs}
	c1, err := NewCopier(raw, opts)
	must(t, err)
	c2, err := NewCopier(raw, opts)
	must(t, err)
	w, err := NewWriter(raw, NewDirect(c1, c2), opts)
	must(t, err)

	// The copier's own operations.
	ha, err := c1.Open("a", os.O_RDWR, 0)
	must(t, err)
	defer ha.Close()
	_, err = ha.WriteAt([]byte("COPIER"), bs+3)
	must(t, err)
	hb, err := c1.Open("b", os.O_RDONLY, 0)
	must(t, err)
	defer hb.Close()
	must(t, c1.Remove("b"))
	must(t, c1.Rename("d/x", "y"))
	must(t, vfs.WriteFile(c1, "n", []byte("new at the copier"), 0o644))
	must(t, c1.MkdirAll("e/f", 0o755))
	lock, err := c1.Lock("LOCK")
	must(t, err)
	// The old writer's operations, which c1 must not see.
	must(t, vfs.WriteFile(w, "a", []byte("writer"), 0o644))
	must(t, vfs.WriteFile(w, "z", []byte("zzz"), 0o644))
	must(t, w.Remove("d/x"))

	before1 := snapshot(t, c1)
	before2 := snapshot(t, c2)
	if before1["a"] == "writer" || before1["z"] != "" {
		t.Fatalf("copier sees the old writer's changes: %v", before1)
	}
	// The old writer is fenced; c1 takes over with c2 as its copier.
	must(t, c1.Promote(ctx, NewDirect(c2)))
	if c1.Role() != RoleWriter {
		t.Fatalf("Role = %v after Promote", c1.Role())
	}
	if got := snapshot(t, raw); !sameSnapshot(got, before1) {
		t.Fatalf("shared storage after Promote:\n%v\nwant the copier's view:\n%v", got, before1)
	}
	if got := snapshot(t, c1); !sameSnapshot(got, before1) {
		t.Fatalf("the promoted view changed:\n%v\nwas\n%v", got, before1)
	}
	if got := snapshot(t, c2); !sameSnapshot(got, before2) {
		t.Fatalf("the other copier's view changed (invariant 6):\n%v\nwas\n%v", got, before2)
	}
	if got := snapshot(t, raw.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})); !sameSnapshot(got, before1) {
		t.Fatalf("after a crash, shared storage holds\n%v\nwant (synced)\n%v", got, before1)
	}
	// Open files work on: ha writes through to shared storage now.
	_, err = ha.WriteAt([]byte("AFTER"), 0)
	must(t, err)
	got, err := vfs.ReadFile(raw, "a")
	must(t, err)
	if !bytes.HasPrefix(got, []byte("AFTER")) {
		t.Fatalf("write through a file open across Promote did not reach shared storage: %q", got[:10])
	}
	buf := make([]byte, 3)
	if n, err := hb.ReadAt(buf, 0); n != 3 || string(buf) != "bee" {
		t.Fatalf("file removed while open, read after Promote: %q, %v", buf[:n], err)
	}
	// The lock is now held on shared storage.
	if l, err := raw.Lock("LOCK"); !errors.Is(err, vfs.ErrLocked) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("shared Lock(LOCK) while the promoted view holds it: %v, want ErrLocked", err)
	}
	must(t, lock.Close())
	if got := snapshot(t, c2); !sameSnapshot(got, before2) {
		t.Fatal("the other copier's view changed after writes of the new writer")
	}
	for _, v := range []*View{c1, c2} {
		must(t, v.Check())
	}
}

// TestCopier_Promote_stabilizerFails: a Promote that cannot stabilize fails
// and leaves a consistent copier, whose view has not changed, and which
// can be promoted later.
func TestCopier_Promote_stabilizerFails(t *testing.T) {
	ctx := context.Background()
	raw := vfs.NewMem()
	must(t, vfs.WriteFile(raw, "a", []byte("shared"), 0o644))
	c1, err := NewCopier(raw, Options{})
	must(t, err)
	c2, err := NewCopier(raw, Options{})
	must(t, err)
	must(t, vfs.WriteFile(c1, "a", []byte("copier"), 0o644))
	must(t, vfs.WriteFile(c1, "b", []byte("bbb"), 0o644))
	before := snapshot(t, c1)
	cause := errors.New("no quorum")
	fst := &failingStabilizer{s: NewDirect(c2), err: cause}
	if err := c1.Promote(ctx, fst); !errors.Is(err, ErrStabilize) || !errors.Is(err, cause) {
		t.Fatalf("Promote with a failing Stabilizer: %v", err)
	}
	if c1.Role() != RoleCopier {
		t.Fatal("a failed Promote changed the role")
	}
	if got := snapshot(t, c1); !sameSnapshot(got, before) {
		t.Fatal("a failed Promote changed the view")
	}
	if got, _ := vfs.ReadFile(raw, "a"); string(got) != "shared" {
		t.Fatalf("a failed Promote changed shared storage: %q", got)
	}
	must(t, c1.Check())
	fst.err = nil
	must(t, c1.Promote(ctx, fst))
	if got := snapshot(t, raw); !sameSnapshot(got, before) {
		t.Fatalf("shared storage after a retried Promote: %v", got)
	}
	if got, _ := vfs.ReadFile(c2, "a"); string(got) != "shared" {
		t.Fatalf("the other copier sees %q", got)
	}
	must(t, c1.Check())
	must(t, c2.Check())
}

// TestCopier_writerRenamesDir: a directory the writer renames must not
// show up under its new name at a copier, not even once the copier creates
// a directory of that name itself.
func TestCopier_writerRenamesDir(t *testing.T) {
	raw := vfs.NewMem()
	must(t, raw.MkdirAll("old/sub", 0o755))
	must(t, vfs.WriteFile(raw, "old/x", []byte("x"), 0o644))
	must(t, vfs.WriteFile(raw, "old/sub/y", []byte("y"), 0o644))
	c, err := NewCopier(raw, Options{})
	must(t, err)
	w, err := NewWriter(raw, NewDirect(c), Options{})
	must(t, err)
	before := snapshot(t, c)
	must(t, w.Rename("old", "new"))
	if got := snapshot(t, c); !sameSnapshot(got, before) {
		t.Fatalf("copier after the writer renamed a directory: %v, want %v", got, before)
	}
	must(t, c.MkdirAll("new/sub", 0o755))
	for _, p := range []string{"new/x", "new/sub/y"} {
		if _, err := c.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) at the copier: %v, want ErrNotExist", p, err)
		}
	}
	names, err := c.List("new")
	must(t, err)
	if len(names) != 1 || names[0] != "sub" {
		t.Errorf("List(new) at the copier = %q, want [sub]", names)
	}
	must(t, c.Check())
	must(t, w.Check())
}

// TestCopier_Promote_sharedFault fails the i-th operation on shared storage
// during Promote, for i = 0, 1, ... until a Promote in which nothing fails.
// A failed Promote must leave a consistent copier whose view, like the
// other copier's, has not changed; a retried Promote must then succeed
// with shared storage equal to the view.
func TestCopier_Promote_sharedFault(t *testing.T) {
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		raw := vfs.NewMem()
		must(t, raw.MkdirAll("d", 0o755))
		must(t, vfs.WriteFile(raw, "a", bytes.Repeat([]byte("a"), 9000), 0o644))
		must(t, vfs.WriteFile(raw, "b", []byte("bee"), 0o644))
		must(t, vfs.WriteFile(raw, "d/x", []byte("x"), 0o644))
		toggle := errorfs.NewToggle(errorfs.OnIndex(i))
		shared := errorfs.WithErrors(raw, toggle)
		c1, err := NewCopier(shared, Options{BlockSize: 512})
		must(t, err)
		c2, err := NewCopier(raw, Options{BlockSize: 512})
		must(t, err)
		w, err := NewWriter(raw, NewDirect(c1, c2), Options{BlockSize: 512})
		must(t, err)
		f, err := c1.Open("a", os.O_RDWR, 0)
		must(t, err)
		_, err = f.WriteAt([]byte("COPIER"), 4000)
		must(t, err)
		must(t, f.Truncate(6000))
		must(t, c1.Remove("b"))
		must(t, c1.Rename("d/x", "y"))
		must(t, vfs.WriteFile(c1, "d/n", []byte("new"), 0o644))
		must(t, vfs.WriteFile(w, "a", []byte("old writer"), 0o644))
		must(t, vfs.WriteFile(w, "z", []byte("old writer"), 0o644))
		view1, view2 := snapshot(t, c1), snapshot(t, c2)

		toggle.Arm()
		err = c1.Promote(ctx, NewDirect(c2))
		toggle.Disarm()
		must(t, c2.Check())
		if got := snapshot(t, c2); !sameSnapshot(got, view2) {
			t.Fatalf("run %d: the other copier's view changed", i)
		}
		if err == nil {
			if got := snapshot(t, raw); !sameSnapshot(got, view1) {
				t.Fatalf("run %d: shared storage after Promote differs from the view", i)
			}
			must(t, c1.Check())
			f.Close()
			if shared.Injected() > 0 {
				continue // the fault hit an op whose error does not matter
			}
			t.Logf("%d runs with a fault", i)
			if i < 10 {
				t.Fatalf("only %d runs: Promote does not reach shared storage", i)
			}
			return
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("run %d: Promote: %v, want an *fs.PathError wrapping vfs.ErrInjected", i, err)
		}
		if c1.Role() != RoleCopier {
			t.Fatalf("run %d: a failed Promote changed the role", i)
		}
		must(t, c1.Check())
		if got := snapshot(t, c1); !sameSnapshot(got, view1) {
			t.Fatalf("run %d: a failed Promote (%v) changed the copier's view", i, err)
		}
		buf := make([]byte, 6)
		if _, err := f.ReadAt(buf, 4000); err != nil || string(buf) != "COPIER" {
			t.Fatalf("run %d: open file after a failed Promote: %q, %v", i, buf, err)
		}
		must(t, c1.Promote(ctx, NewDirect(c2)))
		if got := snapshot(t, raw); !sameSnapshot(got, view1) {
			t.Fatalf("run %d: shared storage after a retried Promote differs from the view", i)
		}
		if got := snapshot(t, c2); !sameSnapshot(got, view2) {
			t.Fatalf("run %d: the other copier's view changed after the retried Promote", i)
		}
		must(t, c1.Check())
		f.Close()
	}
	t.Fatal("Promote kept failing")
}
