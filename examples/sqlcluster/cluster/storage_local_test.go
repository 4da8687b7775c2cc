package cluster

import (
	"context"
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// flakyEngine fails its first Open, then opens; it records the views.
type flakyEngine struct {
	fails int
	opens []vfs.FS
	open  bool
}

var errFlaky = errors.New("flaky open")

func (f *flakyEngine) Open(_ context.Context, fsys vfs.FS) error {
	if f.fails > 0 {
		f.fails--
		return errFlaky
	}
	f.opens = append(f.opens, fsys)
	f.open = true
	return nil
}

func (f *flakyEngine) Close() error { f.open = false; return nil }

// A role change whose engine open failed is called again by the node:
// the view it made stays, and the engine must be opened on it (cowlocal
// alone keeps it as a settled view with the engine closed for good).
func TestProcStorage_BecomeWriter_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleWriter, func(ctx context.Context, st Storage) error { return st.BecomeWriter(ctx, 1) })
}

func TestProcStorage_BecomeCopier_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleCopier, func(ctx context.Context, st Storage) error {
		return st.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"})
	})
}

func testRetriesFailedOpen(t *testing.T, role cow.Role, change func(context.Context, Storage) error) {
	eng := &flakyEngine{fails: 1}
	st, err := InProcess(vfs.NewMem(), cow.Options{BlockSize: PageSize})("n1", eng)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := change(ctx, st); !errors.Is(err, errFlaky) {
		t.Fatalf("first call: %v, want the engine's open error", err)
	}
	if err := change(ctx, st); err != nil {
		t.Fatalf("second call: %v", err)
	}
	v := st.(*procStorage).View()
	if !eng.open || len(eng.opens) != 1 || eng.opens[0] != vfs.FS(v) || v.Role() != role {
		t.Fatalf("engine open %v on %v, want open on the %v view %p", eng.open, eng.opens, role, v)
	}
}

// gateEngine is an engine whose Close, once armed, waits for release
// (the copier's engine closing while its database finishes an apply).
type gateEngine struct {
	armed   bool
	release chan struct{}
}

func (g *gateEngine) Open(context.Context, vfs.FS) error { return nil }

func (g *gateEngine) Close() error {
	if g.armed {
		<-g.release
	}
	return nil
}

// A deposed writer reopening as a copier while the next writer promotes:
// the new copier view is made before the writer gathers the copier views
// and published (after the engine closed) after the writer's SetCopiers.
// The writer must still preserve for it, so its later overwrite stays
// invisible to the copier (invariants 1 and 2). Plain cowlocal loses the
// view here; InProcess runs the two role changes one after the other.
func TestProcStorage_BecomeWriter_copierInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		shared := vfs.NewMem()
		if err := vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644); err != nil {
			t.Fatal(err)
		}
		newStorage := InProcess(shared, cow.Options{BlockSize: 512})
		aEng := &gateEngine{release: make(chan struct{})}
		a, err := newStorage("a", aEng)
		if err != nil {
			t.Fatal(err)
		}
		w, err := newStorage("w", &gateEngine{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := errors.Join(a.Check(), w.Check()); err != nil {
				t.Error(err)
			}
		})
		if err := a.BecomeWriter(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		a.SetCopiers(1, 1, []raftcluster.Member{{ID: "w", Generation: 1}})

		// Epoch 2: w is the writer. a, fenced, reopens as a copier; its
		// engine's Close holds it before it publishes its new view.
		a.Fence(1)
		aEng.armed = true
		aDone := make(chan error, 1)
		go func() { aDone <- a.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}) }()
		synctest.Wait()
		wDone := make(chan error, 1)
		go func() {
			err := w.BecomeWriter(ctx, 2)
			if err == nil {
				w.SetCopiers(2, 2, []raftcluster.Member{{ID: "a", Generation: 1}})
			}
			wDone <- err
		}()
		synctest.Wait() // w has promoted, or waits for a's role change
		close(aEng.release)
		if err := errors.Join(<-aDone, <-wDone); err != nil {
			t.Fatal(err)
		}

		writeFile(t, w.(*procStorage).FS(), "new!")
		if got := readFile(t, a.(*procStorage).FS()); got != "old!" {
			t.Fatalf("copier reads %q after the writer's overwrite; want %q", got, "old!")
		}
		if got := readFile(t, w.(*procStorage).FS()); got != "new!" {
			t.Fatalf("writer reads %q; want %q", got, "new!")
		}
	})
}

func writeFile(t *testing.T, fsys vfs.FS, data string) {
	t.Helper()
	f, err := fsys.Open("log.txt", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	b, err := vfs.ReadFile(fsys, "log.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
