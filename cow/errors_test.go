package cow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// failingStabilizer fails every call with err while armed.
type failingStabilizer struct {
	s   Stabilizer
	err error
}

func (f *failingStabilizer) Stabilize(ctx context.Context, regions []Region) error {
	if f.err != nil {
		return f.err
	}
	return f.s.Stabilize(ctx, regions)
}

// snapshot reads the whole tree of fsys (vfstest.Snapshot).
func snapshot(t *testing.T, fsys vfs.FS) map[string]string {
	t.Helper()
	snap, err := vfstest.Snapshot(fsys)
	must(t, err)
	return snap
}

// sameSnapshot reports whether two snapshots hold the same names and bytes.
func sameSnapshot(a, b map[string]string) bool { return maps.Equal(a, b) }

// writerMutations are the writer mutations that need stabilization, run
// against a shared state holding "f" (3 blocks) and directory "d".
var writerMutations = map[string]func(v *View) error{
	"write": func(v *View) error {
		f, err := v.Open("f", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte("new"), 10)
		return err
	},
	"append": func(v *View) error {
		f, err := v.Open("f", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte("new"), 5000)
		return err
	},
	"truncate": func(v *View) error {
		f, err := v.Open("f", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(100)
	},
	"create": func(v *View) error { _, err := v.Open("g", os.O_RDWR|os.O_CREATE, 0o644); return err },
	"otrunc": func(v *View) error { _, err := v.Open("f", os.O_RDWR|os.O_TRUNC, 0); return err },
	"remove": func(v *View) error { return v.Remove("f") },
	"rename": func(v *View) error { return v.Rename("f", "d/f") },
	"mkdir":  func(v *View) error { return v.MkdirAll("d/e/f", 0o755) },
	"lock":   func(v *View) error { _, err := v.Lock("LOCK"); return err },
}

func newErrorSetup(t *testing.T) (*vfs.MemFS, *View, *View, *failingStabilizer) {
	shared := vfs.NewMem()
	must(t, shared.MkdirAll("d", 0o755))
	must(t, vfs.WriteFile(shared, "f", bytes.Repeat([]byte("old!"), 3*1024), 0o644))
	c, err := NewCopier(shared, Options{})
	must(t, err)
	fs := &failingStabilizer{s: NewDirect(c)}
	w, err := NewWriter(shared, fs, Options{})
	must(t, err)
	t.Cleanup(func() {
		for _, v := range []*View{w, c} {
			if err := v.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
		}
	})
	return shared, w, c, fs
}

func TestWriter_mutation_stabilizerFails(t *testing.T) {
	for name, mutate := range writerMutations {
		t.Run(name, func(t *testing.T) {
			shared, w, c, fst := newErrorSetup(t)
			before := snapshot(t, shared)
			cause := errors.New("copier unreachable")
			fst.err = cause
			err := mutate(w)
			var pe *fs.PathError
			if !errors.As(err, &pe) || !errors.Is(err, ErrStabilize) || !errors.Is(err, cause) {
				t.Fatalf("mutation with a failing Stabilizer: %v, want an *fs.PathError wrapping ErrStabilize and the cause", err)
			}
			if after := snapshot(t, shared); !sameSnapshot(before, after) {
				t.Fatalf("shared storage changed although stabilization failed:\nbefore %v\nafter  %v", before, after)
			}
			if after := snapshot(t, c); !sameSnapshot(before, after) {
				t.Fatalf("copier view changed")
			}
			// Once the stabilizer recovers, the mutation goes through.
			fst.err = nil
			must(t, mutate(w))
			if after := snapshot(t, c); !sameSnapshot(before, after) {
				t.Fatalf("copier view changed after the writer's mutation (invariant 1)")
			}
		})
	}
}

func TestWriter_mutation_guardFails(t *testing.T) {
	for name, mutate := range writerMutations {
		t.Run(name, func(t *testing.T) {
			shared, w, _, _ := newErrorSetup(t)
			before := snapshot(t, shared)
			cause := errors.New("epoch is over")
			calls := 0
			w.SetGuard(func(context.Context) error { calls++; return cause })
			err := mutate(w)
			var pe *fs.PathError
			if !errors.As(err, &pe) || !errors.Is(err, cause) {
				t.Fatalf("mutation with a refusing Guard: %v, want an *fs.PathError wrapping the cause", err)
			}
			if calls == 0 {
				t.Fatalf("Guard was not called")
			}
			if after := snapshot(t, shared); !sameSnapshot(before, after) {
				t.Fatalf("shared storage changed although the Guard refused")
			}
			w.SetGuard(nil)
			must(t, mutate(w))
		})
	}
}

// TestCopier_scratchFault fails the i-th operation on a DirStore's scratch
// FS, for i = 0, 1, ... until a run in which nothing fails. The failure
// must surface as an *fs.PathError, the copier must stay consistent, and
// every block that a successful write put in the overlay must read back.
func TestCopier_scratchFault(t *testing.T) {
	const blocks = 6
	for i := 0; i < 500; i++ {
		shared := vfs.NewMem()
		must(t, vfs.WriteFile(shared, "f", bytes.Repeat([]byte{'s'}, blocks*4096), 0o644))
		scratch := errorfs.WithErrors(vfs.NewMem(), errorfs.OnIndex(i))
		st, err := NewDirStore(scratch)
		if err != nil {
			continue // the fault hit NewDirStore itself, which reports it
		}
		c, err := NewCopier(shared, Options{Store: st})
		must(t, err)
		want := bytes.Repeat([]byte{'s'}, blocks*4096)
		var failed error
		f, err := c.Open("f", os.O_RDWR, 0)
		must(t, err)
		for b := range blocks {
			data := bytes.Repeat([]byte{byte('a' + b)}, 4096)
			if b%2 == 1 {
				data = data[:1000] // a partial block: read, modify, write
			}
			if _, err := f.WriteAt(data, int64(b)*4096); err != nil {
				failed = err
				break
			}
			copy(want[b*4096:], data)
		}
		got := make([]byte, len(want))
		if failed == nil {
			if _, err := f.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
				failed = err
			}
		}
		if failed == nil {
			if !bytes.Equal(got, want) {
				t.Fatalf("run %d: content differs", i)
			}
			if err := c.Check(); err != nil {
				t.Fatalf("run %d: Check: %v", i, err)
			}
			f.Close()
			if scratch.Injected() > 0 {
				continue // the fault hit an op whose error does not matter (Close)
			}
			t.Logf("%d runs with a fault", i)
			if i < 5 {
				t.Fatalf("only %d runs: the workload does not reach the scratch FS", i)
			}
			return // nothing failed: every op has had its turn
		}
		var pe *fs.PathError
		if !errors.As(failed, &pe) || !errors.Is(failed, vfs.ErrInjected) || pe.Path != "f" {
			t.Fatalf("run %d: %v, want an *fs.PathError for f wrapping vfs.ErrInjected", i, failed)
		}
		if err := c.Check(); err != nil {
			t.Fatalf("run %d: Check after %v: %v", i, failed, err)
		}
		// The injector fails once: the view reads back what succeeded.
		if _, err := f.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("run %d: ReadAt after the fault: %v", i, err)
		}
		for b := range blocks {
			blk, w := got[b*4096:(b+1)*4096], want[b*4096:(b+1)*4096]
			if !bytes.Equal(blk, w) && !bytes.Equal(blk[1:], bytes.Repeat(blk[:1], 4095)) {
				t.Fatalf("run %d: block %d is neither what was written nor one failed write", i, b)
			}
		}
		f.Close()
	}
	t.Fatal("the workload kept failing")
}

// TestView_sharedFault fails the i-th operation on shared storage while a
// writer and a copier work on it. Errors must be *fs.PathErrors, both views
// must pass Check, and the copier must never see the writer's changes.
func TestView_sharedFault(t *testing.T) {
	for i := 0; i < 500; i++ {
		raw := vfs.NewMem()
		must(t, vfs.WriteFile(raw, "f", bytes.Repeat([]byte{'s'}, 3*4096), 0o644))
		shared := errorfs.WithErrors(raw, errorfs.OnIndex(i))
		c, err := NewCopier(shared, Options{})
		must(t, err)
		w, err := NewWriter(shared, NewDirect(c), Options{})
		must(t, err)
		err = func() error {
			if _, err := c.Stat("f"); err != nil {
				return err
			}
			wf, err := w.Open("f", os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer wf.Close()
			if _, err := wf.WriteAt([]byte("writer"), 4000); err != nil {
				return err
			}
			if err := wf.Truncate(5000); err != nil {
				return err
			}
			if err := w.Rename("f", "g"); err != nil {
				return err
			}
			got, err := vfs.ReadFile(c, "f")
			if err != nil {
				return err
			}
			if !bytes.Equal(got, bytes.Repeat([]byte{'s'}, 3*4096)) {
				t.Fatalf("run %d: copier sees the writer's changes", i)
			}
			return nil
		}()
		for _, v := range []*View{w, c} {
			if cerr := v.Check(); cerr != nil {
				t.Fatalf("run %d: %v Check after %v: %v", i, v.Role(), err, cerr)
			}
		}
		if err == nil && shared.Injected() > 0 {
			continue // the fault hit an op whose error does not matter (Close)
		}
		if err == nil {
			t.Logf("%d runs with a fault", i)
			if i < 5 {
				t.Fatalf("only %d runs: the workload does not reach shared storage", i)
			}
			return
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("run %d: %v, want an *fs.PathError wrapping vfs.ErrInjected", i, err)
		}
	}
	t.Fatal("the workload kept failing")
}

func TestDirStore_ReadBlock_corrupt(t *testing.T) {
	scratch := vfs.NewMem()
	st, err := NewDirStore(scratch)
	must(t, err)
	c, err := NewCopier(vfs.NewMem(), Options{Store: st, BlockSize: 512})
	must(t, err)
	must(t, vfs.WriteFile(c, "f", bytes.Repeat([]byte("x"), 2048), 0o644))
	// Flip one byte of block 1 on the scratch device.
	names, err := scratch.List("overlay")
	must(t, err)
	if len(names) != 1 {
		t.Fatalf("scratch holds %q, want one file", names)
	}
	sf, err := scratch.Open("overlay/"+names[0], os.O_RDWR, 0)
	must(t, err)
	_, err = sf.WriteAt([]byte("y"), 512+8+7)
	must(t, err)
	must(t, sf.Close())
	_, err = vfs.ReadFile(c, "f")
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, vfs.ErrCorrupt) || pe.Path != "f" {
		t.Fatalf("ReadFile over a corrupt block: %v, want an *fs.PathError for f wrapping vfs.ErrCorrupt", err)
	}
	// Block 0 is intact.
	f, err := c.Open("f", os.O_RDONLY, 0)
	must(t, err)
	defer f.Close()
	buf := make([]byte, 512)
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, bytes.Repeat([]byte("x"), 512)) {
		t.Fatalf("ReadAt of an intact block: %v", err)
	}
}

func TestCopier_Invalidate(t *testing.T) {
	shared := vfs.NewMem()
	must(t, vfs.WriteFile(shared, "f", []byte("before"), 0o644))
	c, err := NewCopier(shared, Options{})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{})
	must(t, err)
	f, err := c.Open("f", os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	cause := errors.New("lease lapsed")
	if err := c.Invalidated(); err != nil {
		t.Fatalf("Invalidated before Invalidate: %v", err)
	}
	c.Invalidate(cause)
	if err := c.Invalidated(); !errors.Is(err, ErrInvalidated) || !errors.Is(err, cause) {
		t.Fatalf("Invalidated: %v, want ErrInvalidated and the cause", err)
	}
	w.Invalidate(cause) // a writer ignores it
	if err := w.Invalidated(); err != nil {
		t.Fatalf("Invalidated on a writer: %v", err)
	}
	_, openErr := c.Open("f", os.O_RDONLY, 0)
	_, statErr := c.Stat("f")
	_, listErr := c.List(".")
	_, readErr := f.ReadAt(make([]byte, 1), 0)
	_, writeErr := f.WriteAt([]byte("x"), 0)
	_, sizeErr := f.Size()
	for what, err := range map[string]error{
		"Open": openErr, "Stat": statErr, "List": listErr, "ReadAt": readErr,
		"WriteAt": writeErr, "Size": sizeErr, "Truncate": f.Truncate(0),
		"Remove": c.Remove("f"), "MkdirAll": c.MkdirAll("d", 0o755),
	} {
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidated) || !errors.Is(err, cause) {
			t.Errorf("%s on an invalidated copier: %v, want an *fs.PathError wrapping ErrInvalidated and the cause", what, err)
		}
	}
	// The writer moves on meanwhile; Preserve still works.
	must(t, vfs.WriteFile(w, "f", []byte("after"), 0o644))
	must(t, c.Reset(context.Background(), w))
	if err := c.Invalidated(); err != nil {
		t.Fatalf("Invalidated after Reset: %v", err)
	}
	got, err := vfs.ReadFile(c, "f")
	if err != nil || string(got) != "after" {
		t.Fatalf("after Reset: %q, %v; want the shared state", got, err)
	}
	// Files open across the reset see the new shared state.
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 0); n != 5 || string(buf) != "after" {
		t.Fatalf("open file after Reset: %q, %v", buf[:n], err)
	}
	must(t, c.Check())
	must(t, w.Check())
}

func TestView_roleErrors(t *testing.T) {
	shared := vfs.NewMem()
	c, err := NewCopier(shared, Options{})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{})
	must(t, err)
	ctx := context.Background()
	for what, err := range map[string]error{
		"writer Preserve":    w.Preserve(ctx, []Region{{Kind: KindMeta, Path: "x"}}),
		"writer Reset":       w.Reset(ctx, w),
		"writer Promote":     w.Promote(ctx, NewDirect()),
		"copier ResetCopier": c.ResetCopier(ctx, func() error { return nil }),
	} {
		if !errors.Is(err, ErrNotCopier) && !errors.Is(err, ErrNotWriter) {
			t.Errorf("%s: %v, want ErrNotCopier or ErrNotWriter", what, err)
		}
	}
	if _, err := NewWriter(shared, nil, Options{}); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("NewWriter(nil Stabilizer): %v", err)
	}
	if _, err := NewCopier(shared, Options{BlockSize: 1000}); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("NewCopier(BlockSize 1000): %v", err)
	}
	if err := c.Preserve(ctx, []Region{{Kind: 9, Path: "x"}}); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Preserve of a bad region: %v", err)
	}
	must(t, vfs.WriteFile(c, "f", []byte("x"), 0o644))
	if err := c.SetBlockSize(512); !errors.Is(err, ErrBusy) {
		t.Errorf("SetBlockSize with overlay content: %v, want ErrBusy", err)
	}
	must(t, vfs.WriteFile(w, "g", []byte("x"), 0o644))
	if err := w.SetBlockSize(512); !errors.Is(err, ErrBusy) {
		t.Errorf("SetBlockSize with a stable set: %v, want ErrBusy", err)
	}
	w.Forget()
	must(t, w.SetBlockSize(512))
	if w.BlockSize() != 512 {
		t.Errorf("BlockSize = %d after SetBlockSize(512)", w.BlockSize())
	}
}
