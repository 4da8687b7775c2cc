package cowlocal_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/cowlocal"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// gateEngine is an engine whose Close or Open, once armed, waits for
// release (a database finishing an apply, or catching up from the log).
type gateEngine struct {
	closeArmed, openArmed bool
	release               chan struct{}
}

func (g *gateEngine) Open(context.Context, vfs.FS) error {
	if g.openArmed {
		<-g.release
	}
	return nil
}

func (g *gateEngine) Close() error {
	if g.closeArmed {
		<-g.release
	}
	return nil
}

// oldGroup returns the Storage function of a group over a shared FS
// holding log.txt = "old!"; the storages it makes are checked when the
// test ends.
func oldGroup(t *testing.T) func(id string, eng cowlocal.Engine) *cowlocal.Storage {
	t.Helper()
	shared := vfs.NewMem()
	if err := vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := cowlocal.NewGroup(shared, cow.Options{BlockSize: 512})
	var made []*cowlocal.Storage
	t.Cleanup(func() {
		for _, s := range made {
			if err := s.Check(); err != nil {
				t.Error(err)
			}
		}
	})
	return func(id string, eng cowlocal.Engine) *cowlocal.Storage {
		s := g.Storage(id, eng)
		made = append(made, s)
		return s
	}
}

// A deposed writer reopening as a copier while the next writer promotes:
// its engine's Close holds it up, and the next writer gathers the copier
// views and runs SetCopiers meanwhile. The writer must still preserve for
// the new copier view, so its later overwrite stays invisible to the
// copier (invariants 1 and 2).
func TestStorage_BecomeWriter_copierInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		storage := oldGroup(t)
		aEng := &gateEngine{release: make(chan struct{})}
		a := storage("a", aEng)
		w := storage("w", nopEngine{})
		epoch1(t, a, w)

		// Epoch 2: w is the writer. a, fenced, reopens as a copier; its
		// engine's Close holds it up.
		aEng.closeArmed = true
		aDone := make(chan error, 1)
		go func() { aDone <- a.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}) }()
		synctest.Wait()
		if err := w.BecomeWriter(ctx, 2); err != nil {
			t.Fatal(err)
		}
		w.SetCopiers(2, 2, []raftcluster.Member{{ID: "a", Generation: 1}})
		close(aEng.release)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		assertPreserved(t, w.FS(), a.FS())
	})
}

// A member making its copier view while the next writer promotes (held
// up in the promotion's sync of shared storage) must be preserved for by
// that writer from its first mutation on, before any SetCopiers
// (invariants 1 and 2): the two role changes run one after the other.
func TestStorage_BecomeCopier_writerPromoting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := vfs.NewMem()
		if err := vfs.WriteFile(mem, "log.txt", []byte("old!"), 0o644); err != nil {
			t.Fatal(err)
		}
		var armed atomic.Bool
		release := make(chan struct{})
		shared := errorfs.WithErrors(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if op.Kind == errorfs.OpSync && armed.CompareAndSwap(true, false) {
				<-release
			}
			return nil
		}))
		g := cowlocal.NewGroup(shared, cow.Options{BlockSize: 512})
		a, w, x := g.Storage("a", nopEngine{}), g.Storage("w", nopEngine{}), g.Storage("x", nopEngine{})
		t.Cleanup(func() {
			if err := errors.Join(a.Check(), w.Check(), x.Check()); err != nil {
				t.Error(err)
			}
		})
		epoch1(t, a, w)
		armed.Store(true)
		wDone, xDone := make(chan error, 1), make(chan error, 1)
		go func() { wDone <- w.BecomeWriter(ctx, 2) }()
		synctest.Wait() // w promotes, held up in its sync
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if err := x.BecomeCopier(canceled, 2, raftcluster.Member{ID: "w"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("BecomeCopier with a canceled ctx during a role change: %v", err)
		}
		go func() { xDone <- x.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}) }()
		synctest.Wait()
		close(release)
		if err := errors.Join(<-wDone, <-xDone); err != nil {
			t.Fatal(err)
		}
		assertPreserved(t, w.FS(), x.FS())
	})
}

// A member becoming a copier while a fresh writer's engine opens (and
// catches up, writing through the writer view before SetCopiers) must
// join that writer's stabilizer (invariants 1 and 2).
func TestStorage_BecomeCopier_writerOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		storage := oldGroup(t)
		wEng := &gateEngine{openArmed: true, release: make(chan struct{})}
		w := storage("w", wEng)
		c := storage("c", nopEngine{})
		wDone := make(chan error, 1)
		go func() { wDone <- w.BecomeWriter(ctx, 1) }()
		synctest.Wait()
		if err := c.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}); err != nil {
			t.Fatal(err)
		}
		close(wEng.release)
		if err := <-wDone; err != nil {
			t.Fatal(err)
		}
		assertPreserved(t, w.FS(), c.FS())
	})
}

// A role change whose view is made and whose role is reached, but whose
// engine fails to open, is called again by the node: the second call must
// open the engine on the view.
func TestStorage_BecomeWriter_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleWriter, func(ctx context.Context, s *cowlocal.Storage) error {
		return s.BecomeWriter(ctx, 1)
	})
}

func TestStorage_BecomeCopier_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleCopier, func(ctx context.Context, s *cowlocal.Storage) error {
		return s.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"})
	})
}

func TestStorage_Reset_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleCopier, func(ctx context.Context, s *cowlocal.Storage) error {
		return s.Reset(ctx, 1, raftcluster.Member{ID: "w"})
	})
}

// A copier whose engine failed to open, promoted: the engine opens on the
// promoted view.
func TestStorage_BecomeWriter_promotesAfterFailedOpen(t *testing.T) {
	storage := oldGroup(t)
	eng := &flakyEngine{fails: 1}
	s := storage("n1", eng)
	ctx := context.Background()
	if err := s.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}); !errors.Is(err, errFlaky) {
		t.Fatalf("BecomeCopier: %v, want the engine's open error", err)
	}
	if err := s.BecomeWriter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	eng.assertOpenOn(t, s.View(), cow.RoleWriter)
}

func testRetriesFailedOpen(t *testing.T, role cow.Role, change func(context.Context, *cowlocal.Storage) error) {
	storage := oldGroup(t)
	eng := &flakyEngine{fails: 1}
	s := storage("n1", eng)
	ctx := context.Background()
	if err := change(ctx, s); !errors.Is(err, errFlaky) {
		t.Fatalf("first call: %v, want the engine's open error", err)
	}
	if err := change(ctx, s); err != nil {
		t.Fatalf("second call: %v", err)
	}
	eng.assertOpenOn(t, s.View(), role)
}

// flakyEngine fails its first fails Opens, then opens; it records the
// views it opened on.
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

// assertOpenOn checks that the engine opened once, on v, which has role.
func (f *flakyEngine) assertOpenOn(t *testing.T, v *cow.View, role cow.Role) {
	t.Helper()
	if v == nil || v.Role() != role {
		t.Fatalf("view %v, want a %v", v, role)
	}
	if !f.open || len(f.opens) != 1 || f.opens[0] != vfs.FS(v) {
		t.Fatalf("engine open %v on %v, want open once on %p", f.open, f.opens, v)
	}
}

// epoch1 makes a the writer of epoch 1 and w its copier, then fences a.
func epoch1(t *testing.T, a, w *cowlocal.Storage) {
	t.Helper()
	ctx := context.Background()
	if err := a.BecomeWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	a.SetCopiers(1, 1, []raftcluster.Member{{ID: "w", Generation: 1}})
	a.Fence(1)
}

// newEpoch2 returns a group in which a was the writer of epoch 1 and w, its
// copier, has become the writer of epoch 2 (a is fenced and still holds
// its writer view).
func newEpoch2(t *testing.T) (storage func(string, cowlocal.Engine) *cowlocal.Storage, a, w *cowlocal.Storage) {
	t.Helper()
	ctx := context.Background()
	storage = oldGroup(t)
	a, w = storage("a", nopEngine{}), storage("w", nopEngine{})
	epoch1(t, a, w)
	if err := w.BecomeWriter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	return storage, a, w
}

// A node that lags behind the log names the writer of an older epoch: the
// copier view it makes must still join the writer that mutates now.
func TestStorage_BecomeCopier_staleWriter(t *testing.T) {
	storage, _, w := newEpoch2(t)
	x := storage("x", nopEngine{})
	if err := x.BecomeCopier(context.Background(), 1, raftcluster.Member{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	assertPreserved(t, w.FS(), x.FS())
}

func TestStorage_Reset_staleWriter(t *testing.T) {
	ctx := context.Background()
	storage, a, w := newEpoch2(t)
	x := storage("x", nopEngine{})
	if err := a.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	if err := x.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	if err := x.Reset(ctx, 1, raftcluster.Member{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	assertPreserved(t, w.FS(), x.FS())
}

// An excluded copier (SetCopiers dropped it from the writer's Direct)
// resets before it rejoins: from the reset on, the writer preserves for
// it again.
func TestStorage_Reset_excludedCopier(t *testing.T) {
	ctx := context.Background()
	storage := oldGroup(t)
	w, x := storage("w", nopEngine{}), storage("x", nopEngine{})
	if err := w.BecomeWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := x.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	w.SetCopiers(1, 1, []raftcluster.Member{{ID: "x", Generation: 1}})
	w.SetCopiers(1, 2, nil) // x excluded
	if err := x.Reset(ctx, 1, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	assertPreserved(t, w.FS(), x.FS())
}

// A writer deposed and then elected again, without becoming a copier in
// between (its node lagged behind the log), must not keep its old writer
// view: another member wrote since, and the view's caches (file sizes)
// and the engine opened on it are stale. It reopens on a fresh writer
// view that sees the other writer's mutations.
func TestStorage_BecomeWriter_afterAnotherWriter(t *testing.T) {
	ctx := context.Background()
	storage := oldGroup(t)
	aEng := &flakyEngine{}
	a, w := storage("a", aEng), storage("w", nopEngine{})
	epoch1(t, a, w)
	if got := readAll(t, a.FS()); got != "old!" { // the writer view caches the size
		t.Fatalf("a reads %q", got)
	}
	if err := w.BecomeWriter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFile(w.FS(), "log.txt", []byte("old!new, written in epoch 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Fence(2)
	if err := a.BecomeWriter(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, a.FS()); got != "old!new, written in epoch 2" {
		t.Fatalf("writer of epoch 3 reads %q", got)
	}
	if !aEng.open || len(aEng.opens) != 2 || aEng.opens[1] != vfs.FS(a.View()) {
		t.Fatalf("engine open %v on %d views, want reopened on the new writer view", aEng.open, len(aEng.opens))
	}
}

// A copier view invalidated (its engine misses what the log no longer
// holds) is not promoted when it becomes the writer: promoting would push
// its overlay, undoing the previous writer's mutations on shared storage.
// It opens a fresh writer view on shared storage as the previous writer
// left it, and the engine reopens on that view.
func TestStorage_BecomeWriter_invalidatedCopier(t *testing.T) {
	ctx := context.Background()
	storage := oldGroup(t)
	eng := &flakyEngine{}
	a, w := storage("a", nopEngine{}), storage("w", eng)
	if err := a.BecomeWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	a.SetCopiers(1, 1, []raftcluster.Member{{ID: "w", Generation: 1}})
	if err := vfs.WriteFile(a.FS(), "log.txt", []byte("new!"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.Fence(1)
	old := w.View()
	if got := readAll(t, old); got != "old!" {
		t.Fatalf("copier reads %q before the promotion, want the preserved %q", got, "old!")
	}
	old.Invalidate(errors.New("test: gap"))
	if err := w.BecomeWriter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	v := w.View()
	if v == old || v.Role() != cow.RoleWriter {
		t.Fatalf("view %p (role %v), want a new writer view", v, v.Role())
	}
	if got := readAll(t, v); got != "new!" {
		t.Fatalf("the new writer reads %q, want the previous writer's %q", got, "new!")
	}
	if !eng.open || len(eng.opens) != 2 || eng.opens[1] != vfs.FS(v) {
		t.Fatalf("engine open %v on %v, want reopened on the writer view %p", eng.open, eng.opens, v)
	}
}
