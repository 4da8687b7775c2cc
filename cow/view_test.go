package cow

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// newWriterFS returns a writer view over a fresh Mem with a Direct
// stabilizer feeding n copiers; Check runs on every view at cleanup.
func newWriterFS(tb testing.TB, n int, store func(tb testing.TB) Store) (*View, []*View) {
	tb.Helper()
	shared := vfs.NewMem()
	local := NewDirect()
	var copiers []*View
	for range n {
		c, err := NewCopier(shared, Options{Store: store(tb)})
		if err != nil {
			tb.Fatal(err)
		}
		local.Add(c)
		copiers = append(copiers, c)
	}
	w, err := NewWriter(shared, local, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for _, v := range append([]*View{w}, copiers...) {
			if err := v.Check(); err != nil {
				tb.Errorf("Check: %v", err)
			}
		}
	})
	return w, copiers
}

func newMemStoreTB(testing.TB) Store { return NewMemStore() }

func newDirStoreTB(tb testing.TB) Store {
	s, err := NewDirStore(vfs.NewMem())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestView_TestFS_writer(t *testing.T) {
	for _, n := range []int{1, 2} {
		vfstest.TestFS(t, func(tb testing.TB) vfs.FS {
			w, _ := newWriterFS(tb, n, newMemStoreTB)
			return w
		})
	}
}

func TestView_TestFS_copier(t *testing.T) {
	for name, store := range map[string]func(testing.TB) Store{"mem": newMemStoreTB, "dir": newDirStoreTB} {
		t.Run(name, func(t *testing.T) {
			vfstest.TestFS(t, func(tb testing.TB) vfs.FS {
				_, cs := newWriterFS(tb, 1, store)
				return cs[0]
			})
		})
	}
}

// TestView_TestFS_copierOverPopulated runs the suite on a copier whose
// shared storage is full of files and directories that the copier removed
// before the suite starts: every name the suite uses may collide with a
// whiteout or with shared content the writer changes behind it.
func TestView_TestFS_copierOverPopulated(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS {
		w, cs := newWriterFS(tb, 1, newMemStoreTB)
		c := cs[0]
		// The writer fills shared storage before the copier looks.
		for _, d := range []string{"d", "d/e", "many"} {
			must(tb, w.MkdirAll(d, 0o755))
		}
		for _, f := range []string{"a", "b", "f", "d/x", "d/e/f", "LOCK", "many/a00"} {
			must(tb, vfs.WriteFile(w, f, []byte("shared "+f), 0o644))
		}
		must(tb, vfs.RemoveAll(c, "."))
		// Then the writer changes shared storage again.
		must(tb, vfs.WriteFile(w, "a", []byte("changed by the writer"), 0o644))
		must(tb, w.Remove("b"))
		must(tb, w.MkdirAll("z", 0o755))
		return c
	})
}

// fataler is what must needs of a testing.TB or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func must(tb fataler, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestView_TestFS_overOS runs the suite on both views over a directory on
// disk, as in production.
func TestView_TestFS_overOS(t *testing.T) {
	newViews := func(tb testing.TB) (*View, *View) {
		shared := vfs.OS(tb.TempDir())
		c, err := NewCopier(shared, Options{})
		must(tb, err)
		w, err := NewWriter(shared, NewDirect(c), Options{})
		must(tb, err)
		tb.Cleanup(func() {
			for _, v := range []*View{w, c} {
				if err := v.Check(); err != nil {
					tb.Errorf("Check: %v", err)
				}
			}
		})
		return w, c
	}
	t.Run("writer", func(t *testing.T) {
		vfstest.TestFS(t, func(tb testing.TB) vfs.FS { w, _ := newViews(tb); return w })
	})
	t.Run("copier", func(t *testing.T) {
		vfstest.TestFS(t, func(tb testing.TB) vfs.FS { _, c := newViews(tb); return c })
	})
}

func TestView_Logger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	shared := vfs.NewMem()
	c, err := NewCopier(shared, Options{Logger: log})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{Logger: log})
	must(t, err)
	must(t, vfs.WriteFile(w, "f", []byte("x"), 0o644))
	c.Invalidate(errors.New("lease lapsed"))
	for _, want := range []string{"cow: stabilize", "cow: copier invalidated", "lease lapsed"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}
