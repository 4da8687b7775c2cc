package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// nopEngine holds nothing: the test reads the views.
type nopEngine struct{}

func (nopEngine) Close() error                       { return nil }
func (nopEngine) Open(context.Context, vfs.FS) error { return nil }

// The members one InProcess StorageFunc makes are one group: the writer
// preserves for the copier, so its overwrite stays invisible to the copier
// (invariants 1 and 2). Each member hands out its view (Node.RequestReset
// asks for it) and has no stability endpoint. The role changes themselves
// are cowlocal's and tested there.
func TestInProcess_membersShareGroup(t *testing.T) {
	ctx := context.Background()
	shared := vfs.NewMem()
	if err := vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644); err != nil {
		t.Fatal(err)
	}
	newStorage := InProcess(shared, cow.Options{BlockSize: PageSize})
	var sts [2]Storage
	for i, id := range []string{"w", "c"} {
		st, err := newStorage(id, nopEngine{})
		if err != nil {
			t.Fatal(err)
		}
		if addr := st.StabilityAddr(); addr != "" {
			t.Fatalf("%s: stability address %q, want none", id, addr)
		}
		sts[i] = st
	}
	w, c := sts[0], sts[1]
	t.Cleanup(func() {
		if err := errors.Join(w.Check(), c.Check(), w.Close(), c.Close()); err != nil {
			t.Error(err)
		}
	})
	if err := w.BecomeWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	views := map[string]*cow.View{}
	for id, st := range map[string]Storage{"w": w, "c": c} {
		v, ok := st.(interface{ View() *cow.View })
		if !ok || v.View() == nil {
			t.Fatalf("%s: no view", id)
		}
		views[id] = v.View()
	}
	if err := vfs.WriteFile(views["w"], "log.txt", []byte("new!"), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"w": "new!", "c": "old!"} {
		if b, err := vfs.ReadFile(views[id], "log.txt"); err != nil || string(b) != want {
			t.Fatalf("%s reads %q, %v; want %q", id, b, err, want)
		}
	}
}
