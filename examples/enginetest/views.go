package enginetest

import (
	"context"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
)

// Views returns a writer view and n copiers over one new shared memory FS,
// the copiers known to the writer's in-process Stabilizer. They are
// released when tb ends.
func Views(tb testing.TB, n int) (shared *vfs.MemFS, writer *cow.View, copiers []*cow.View) {
	tb.Helper()
	return ViewsWith(tb, n, cow.Options{})
}

// ViewsWith is Views with opts for the writer and every copier (a copier
// uses the writer's options once promoted: HoldRemoved and HoldResets).
// opts.Store must be nil: each view gets its own memory store.
func ViewsWith(tb testing.TB, n int, opts cow.Options) (shared *vfs.MemFS, writer *cow.View, copiers []*cow.View) {
	tb.Helper()
	shared = vfs.NewMem()
	writer, copiers = ViewsOnWith(tb, shared, n, opts)
	return shared, writer, copiers
}

// ViewsOn is Views over the given shared FS (the copiers' overlays in
// memory).
func ViewsOn(tb testing.TB, shared vfs.FS, n int) (writer *cow.View, copiers []*cow.View) {
	tb.Helper()
	return ViewsOnWith(tb, shared, n, cow.Options{})
}

// ViewsOnWith is ViewsOn with opts for every view, as in ViewsWith.
func ViewsOnWith(tb testing.TB, shared vfs.FS, n int, opts cow.Options) (writer *cow.View, copiers []*cow.View) {
	tb.Helper()
	if opts.Store != nil {
		tb.Fatal("enginetest: ViewsOnWith: opts.Store must be nil (one store per view)")
	}
	local := cow.NewDirect()
	for range n {
		c, err := cow.NewCopier(shared, opts)
		if err != nil {
			tb.Fatal(err)
		}
		local.Add(c)
		copiers = append(copiers, c)
	}
	w, err := cow.NewWriter(shared, local, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for _, v := range append([]*cow.View{w}, copiers...) {
			if err := v.Release(); err != nil {
				tb.Error(err)
			}
		}
	})
	return w, copiers
}

// Backends are the vfs.FSs that the adapters' lifecycle tests run an
// engine on: memory, a cow writer view with two copiers, and one of those
// copiers.
func Backends() map[string]func(tb testing.TB) vfs.FS {
	return map[string]func(tb testing.TB) vfs.FS{
		"mem": func(testing.TB) vfs.FS { return vfs.NewMem() },
		"writer": func(tb testing.TB) vfs.FS {
			_, w, _ := Views(tb, 2)
			return w
		},
		"copier": func(tb testing.TB) vfs.FS {
			_, _, c := Views(tb, 2)
			return c[0]
		},
	}
}

// ResetAll resets every copier through the writer, so that each sees
// shared storage as it is now.
func ResetAll(tb testing.TB, writer *cow.View, copiers []*cow.View) {
	tb.Helper()
	for _, c := range copiers {
		if err := c.Reset(context.Background(), writer); err != nil {
			tb.Fatal(err)
		}
	}
}
