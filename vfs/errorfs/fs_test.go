package errorfs_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// checkAtCleanup runs fsys.Check when the test ends.
func checkAtCleanup(tb testing.TB, fsys *errorfs.FS) *errorfs.FS {
	tb.Cleanup(func() {
		if err := fsys.Check(); err != nil {
			tb.Error(err)
		}
	})
	return fsys
}

func TestFS_conformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newFS func(tb testing.TB) vfs.FS
	}{
		{"mem/nil", func(tb testing.TB) vfs.FS { return checkAtCleanup(tb, errorfs.WithErrors(vfs.NewMem(), nil)) }},
		{"mem/disarmed", func(tb testing.TB) vfs.FS {
			return checkAtCleanup(tb, errorfs.WithErrors(vfs.NewMem(), errorfs.NewToggle(errorfs.Always())))
		}},
		{"mem/unmatched", func(tb testing.TB) vfs.FS {
			inj := errorfs.Latency(0, errorfs.PathMatch("no-such-*", errorfs.Always()))
			return checkAtCleanup(tb, errorfs.WithErrors(vfs.NewMem(), inj))
		}},
		{"mem/plain", func(tb testing.TB) vfs.FS {
			return checkAtCleanup(tb, errorfs.WithErrors(plainFS{vfs.NewMem()}, nil))
		}},
		{"os/nil", func(tb testing.TB) vfs.FS { return checkAtCleanup(tb, errorfs.WithErrors(vfs.OS(tb.TempDir()), nil)) }},
	} {
		t.Run(tc.name, func(t *testing.T) { vfstest.TestFS(t, tc.newFS) })
	}
}

// plainFS hides the optional interfaces of an FS and of its files.
type plainFS struct{ vfs.FS }

func (p plainFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := p.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return plainFile{f}, nil
}

type plainFile struct{ vfs.File }

// fixture is a memory FS with a file "f" holding "data" and a directory
// "d", wrapped with inj.
func fixture(t *testing.T, inj errorfs.Injector) (*errorfs.FS, *vfs.MemFS) {
	t.Helper()
	mem := vfs.NewMem()
	if err := vfs.WriteFile(mem, "f", []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mem.MkdirAll("d", 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mem.Check(); err != nil {
			t.Error(err)
		}
	})
	return checkAtCleanup(t, errorfs.WithErrors(mem, inj)), mem
}

func wantInjected(t *testing.T, err error, op, path string) {
	t.Helper()
	pe, ok := err.(*fs.PathError)
	if !ok || !errors.Is(err, vfs.ErrInjected) || pe.Op != op || pe.Path != path {
		t.Errorf("got error %v (%T), want *fs.PathError{Op: %q, Path: %q} wrapping vfs.ErrInjected", err, err, op, path)
	}
}

func readMem(t *testing.T, mem *vfs.MemFS, name string) string {
	t.Helper()
	b, err := vfs.ReadFile(mem, name)
	if err != nil {
		t.Fatalf("ReadFile(%q) of the inner FS: %v", name, err)
	}
	return string(b)
}

func exists(mem *vfs.MemFS, name string) bool {
	_, err := mem.Stat(name)
	return err == nil
}

// TestFS_kinds fails one kind of op at a time and checks that the call
// fails with the injected error and, for mutations, that nothing changed
// in the inner FS.
func TestFS_kinds(t *testing.T) {
	type result struct {
		err  error
		path string
	}
	for _, tc := range []struct {
		kind errorfs.OpKind
		// do makes the call whose op fails; it may use other ops first.
		do func(t *testing.T, efs *errorfs.FS) result
		// after checks the inner FS once the call has failed.
		after func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS)
	}{{
		kind: errorfs.OpOpen,
		do: func(t *testing.T, efs *errorfs.FS) result {
			_, err := efs.Open("f", os.O_RDWR, 0)
			return result{err, "f"}
		},
	}, {
		kind: errorfs.OpCreate,
		do: func(t *testing.T, efs *errorfs.FS) result {
			_, err := efs.Open("new", os.O_RDWR|os.O_CREATE, 0o644)
			return result{err, "new"}
		},
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if exists(mem, "new") {
				t.Error("failed create created the file")
			}
			// O_TRUNC alone is a create too: it may change the FS.
			_, err := efs.Open("f", os.O_RDWR|os.O_TRUNC, 0)
			wantInjected(t, err, "create", "f")
			if got := readMem(t, mem, "f"); got != "data" {
				t.Errorf("failed O_TRUNC open left %q, want %q", got, "data")
			}
		},
	}, {
		kind: errorfs.OpRemove,
		do:   func(t *testing.T, efs *errorfs.FS) result { return result{efs.Remove("f"), "f"} },
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if !exists(mem, "f") {
				t.Error("failed Remove removed the file")
			}
		},
	}, {
		kind: errorfs.OpRemoveAll,
		do:   func(t *testing.T, efs *errorfs.FS) result { return result{efs.RemoveAll("d"), "d"} },
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if !exists(mem, "d") {
				t.Error("failed RemoveAll removed the directory")
			}
		},
	}, {
		kind: errorfs.OpRename,
		do:   func(t *testing.T, efs *errorfs.FS) result { return result{efs.Rename("f", "g"), "f"} },
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if !exists(mem, "f") || exists(mem, "g") {
				t.Error("failed Rename renamed the file")
			}
		},
	}, {
		kind: errorfs.OpStat,
		do: func(t *testing.T, efs *errorfs.FS) result {
			_, err := efs.Stat("f")
			return result{err, "f"}
		},
	}, {
		kind: errorfs.OpList,
		do: func(t *testing.T, efs *errorfs.FS) result {
			_, err := efs.List("d")
			return result{err, "d"}
		},
	}, {
		kind: errorfs.OpMkdirAll,
		do:   func(t *testing.T, efs *errorfs.FS) result { return result{efs.MkdirAll("e/f", 0o755), "e/f"} },
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if exists(mem, "e") {
				t.Error("failed MkdirAll made a directory")
			}
		},
	}, {
		kind: errorfs.OpLock,
		do: func(t *testing.T, efs *errorfs.FS) result {
			_, err := efs.Lock("LOCK")
			return result{err, "LOCK"}
		},
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			l, err := mem.Lock("LOCK")
			if err != nil {
				t.Fatalf("failed Lock took the lock: %v", err)
			}
			l.Close()
		},
	}, {
		kind: errorfs.OpUnlock,
		do: func(t *testing.T, efs *errorfs.FS) result {
			l, err := efs.Lock("LOCK")
			if err != nil {
				t.Fatal(err)
			}
			return result{l.Close(), "LOCK"}
		},
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			l, err := mem.Lock("LOCK")
			if err != nil {
				t.Fatalf("a failed unlock must still release the lock: %v", err)
			}
			l.Close()
		},
	}, {
		kind: errorfs.OpSyncDir,
		do:   func(t *testing.T, efs *errorfs.FS) result { return result{efs.SyncDir("d"), "d"} },
	}, {
		kind: errorfs.OpRead,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDONLY)
			defer f.Close()
			n, err := f.ReadAt(make([]byte, 2), 1)
			if n != 0 {
				t.Errorf("failed ReadAt read %d bytes", n)
			}
			return result{err, "f"}
		},
	}, {
		kind: errorfs.OpWrite,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDWR)
			defer f.Close()
			n, err := f.WriteAt([]byte("XX"), 1)
			if n != 0 {
				t.Errorf("failed WriteAt wrote %d bytes", n)
			}
			return result{err, "f"}
		},
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if got := readMem(t, mem, "f"); got != "data" {
				t.Errorf("failed WriteAt left %q, want %q", got, "data")
			}
		},
	}, {
		kind: errorfs.OpTruncate,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDWR)
			defer f.Close()
			return result{f.Truncate(1), "f"}
		},
		after: func(t *testing.T, efs *errorfs.FS, mem *vfs.MemFS) {
			if got := readMem(t, mem, "f"); got != "data" {
				t.Errorf("failed Truncate left %q, want %q", got, "data")
			}
		},
	}, {
		kind: errorfs.OpSync,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDWR)
			defer f.Close()
			return result{f.Sync(), "f"}
		},
	}, {
		kind: errorfs.OpSyncData,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDWR)
			defer f.Close()
			if _, ok := f.(vfs.DataSyncer); !ok {
				t.Fatal("file of an errorfs over MemFS is not a vfs.DataSyncer")
			}
			return result{vfs.SyncData(f), "f"}
		},
	}, {
		kind: errorfs.OpSize,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDONLY)
			defer f.Close()
			_, err := f.Size()
			return result{err, "f"}
		},
	}, {
		kind: errorfs.OpClose,
		do: func(t *testing.T, efs *errorfs.FS) result {
			f := openOK(t, efs, "f", os.O_RDONLY)
			err := f.Close()
			// The file is closed all the same.
			if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("ReadAt after a failed Close = %v, want fs.ErrClosed", err)
			}
			return result{err, "f"}
		},
	}} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			efs, mem := fixture(t, errorfs.OnKinds(errorfs.Always(), tc.kind))
			r := tc.do(t, efs)
			wantInjected(t, r.err, tc.kind.String(), r.path)
			if tc.after != nil {
				tc.after(t, efs, mem)
			}
			if efs.Injected() < 1 || efs.Injected() > efs.Ops() {
				t.Errorf("Injected() = %d, Ops() = %d", efs.Injected(), efs.Ops())
			}
		})
	}
}

// TestFS_kinds_complete makes sure TestFS_kinds covers every kind.
func TestFS_kinds_complete(t *testing.T) {
	// Call every method through a recording injector and compare the
	// kinds seen with Kinds().
	seen := map[errorfs.OpKind]bool{}
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error { seen[op.Kind] = true; return nil })
	efs, _ := fixture(t, rec)
	f := openOK(t, efs, "f", os.O_RDWR|os.O_CREATE)
	f.ReadAt(make([]byte, 1), 0)
	f.WriteAt([]byte("x"), 0)
	f.Truncate(4)
	f.Sync()
	vfs.SyncData(f)
	f.Size()
	f.Close()
	openOK(t, efs, "f", os.O_RDONLY).Close()
	efs.Stat("f")
	efs.List(".")
	efs.MkdirAll("e", 0o755)
	l, _ := efs.Lock("LOCK")
	l.Close()
	efs.SyncDir(".")
	efs.Rename("f", "g")
	efs.Remove("g")
	efs.RemoveAll("e")
	for _, k := range errorfs.Kinds() {
		if !seen[k] {
			t.Errorf("no FS or File method produced an op of kind %v", k)
		}
	}
}

func openOK(t *testing.T, fsys vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fsys.Open(name, flag, 0o644)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return f
}

func TestFS_Op_fields(t *testing.T) {
	var ops []errorfs.Op
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error { ops = append(ops, op); return nil })
	efs, _ := fixture(t, rec)
	f := openOK(t, efs, "f", os.O_RDWR)
	f.WriteAt(make([]byte, 5), 100)
	f.ReadAt(make([]byte, 3), 7)
	f.Truncate(42)
	f.Close()
	efs.Rename("f", "d/g")
	want := []errorfs.Op{
		{Kind: errorfs.OpOpen, Path: "f"},
		{Kind: errorfs.OpWrite, Path: "f", Off: 100, Len: 5},
		{Kind: errorfs.OpRead, Path: "f", Off: 7, Len: 3},
		{Kind: errorfs.OpTruncate, Path: "f", Off: 42},
		{Kind: errorfs.OpClose, Path: "f"},
		{Kind: errorfs.OpRename, Path: "f", NewPath: "d/g"},
	}
	if len(ops) != len(want) {
		t.Fatalf("ops = %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("op %d = %#v, want %#v", i, ops[i], want[i])
		}
	}
	if efs.Ops() != int64(len(want)) {
		t.Errorf("Ops() = %d, want %d", efs.Ops(), len(want))
	}
}

func TestFS_MaybeError_wrapping(t *testing.T) {
	plain := errors.New("disk on fire")
	efs, _ := fixture(t, errorfs.InjectorFunc(func(errorfs.Op) error { return plain }))
	_, err := efs.Stat("f")
	pe, ok := err.(*fs.PathError)
	if !ok || pe.Op != "stat" || pe.Path != "f" || pe.Err != plain {
		t.Errorf("Stat with an injector returning a plain error = %#v, want *fs.PathError{stat f disk on fire}", err)
	}
	own := &fs.PathError{Op: "custom", Path: "elsewhere", Err: vfs.ErrCorrupt}
	efs, _ = fixture(t, errorfs.InjectorFunc(func(errorfs.Op) error { return own }))
	if _, err := efs.Stat("f"); err != own {
		t.Errorf("Stat with an injector returning an *fs.PathError = %v, want it unchanged", err)
	}
}

func TestFS_optionalInterfaces(t *testing.T) {
	// Over MemFS, files are DataSyncers; over plainFS they are not, and
	// vfs.SyncData falls back to an OpSync.
	efs := errorfs.WithErrors(plainFS{vfs.NewMem()}, errorfs.OnKinds(errorfs.Always(), errorfs.OpSync))
	f := openOK(t, efs, "f", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	if _, ok := f.(vfs.DataSyncer); ok {
		t.Error("errorfs file over a file without SyncData is a vfs.DataSyncer")
	}
	wantInjected(t, vfs.SyncData(f), "sync", "f")

	// RemoveAll over an FS without it: one OpRemoveAll, then the fallback
	// through the wrapper's own (injectable) methods.
	var kinds []string
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error { kinds = append(kinds, op.Kind.String()); return nil })
	inner := plainFS{vfs.NewMem()}
	if err := inner.MkdirAll("t/u", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFile(inner, "t/u/a", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	efs = errorfs.WithErrors(inner, rec)
	if err := vfs.RemoveAll(efs, "t"); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if got, want := strings.Join(kinds, " "), "removeall stat list stat list stat remove remove remove"; got != want {
		t.Errorf("ops of RemoveAll's fallback = %q, want %q", got, want)
	}
	if _, err := inner.Stat("t"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(t) after RemoveAll = %v, want fs.ErrNotExist", err)
	}
	// A failure inside the fallback is reported.
	if err := inner.MkdirAll("t/u", 0o755); err != nil {
		t.Fatal(err)
	}
	efs = errorfs.WithErrors(inner, errorfs.OnKinds(errorfs.Always(), errorfs.OpRemove))
	wantInjected(t, efs.RemoveAll("t"), "remove", "t/u")

	// Over MemFS, which has RemoveAll, it is a single op.
	efs, _ = fixture(t, nil)
	if err := efs.RemoveAll("d"); err != nil {
		t.Fatal(err)
	}
	if efs.Ops() != 1 {
		t.Errorf("RemoveAll over MemFS took %d ops, want 1", efs.Ops())
	}
}

func TestFS_Unwrap(t *testing.T) {
	mem := vfs.NewMem()
	if got := errorfs.WithErrors(mem, nil).Unwrap(); got != mem {
		t.Errorf("Unwrap() = %v, want the inner FS", got)
	}
}

// TestFS_Check_inner shows that Check reports the inner FS's problems.
func TestFS_Check_inner(t *testing.T) {
	efs := errorfs.WithErrors(badCheckFS{vfs.NewMem()}, nil)
	if err := efs.Check(); err == nil || !strings.Contains(err.Error(), "inner is broken") {
		t.Errorf("Check() = %v, want the inner FS's error", err)
	}
}

type badCheckFS struct{ vfs.FS }

func (badCheckFS) Check() error { return errors.New("inner is broken") }
