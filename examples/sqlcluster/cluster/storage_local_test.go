package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
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

// A BecomeWriter whose engine open failed is called again by the node: the
// writer view it made stays, and the engine must be opened on it (it used
// to be kept as a settled writer view with the engine closed for good).
func TestProcStorage_BecomeWriter_retriesFailedOpen(t *testing.T) {
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
	if err := st.BecomeWriter(ctx, 1); !errors.Is(err, errFlaky) {
		t.Fatalf("first BecomeWriter: %v, want the engine's open error", err)
	}
	if err := st.BecomeWriter(ctx, 1); err != nil {
		t.Fatalf("second BecomeWriter: %v", err)
	}
	v := st.(*procStorage).View()
	if !eng.open || len(eng.opens) != 1 || eng.opens[0] != vfs.FS(v) || v.Role() != cow.RoleWriter {
		t.Fatalf("engine open %v on %v, want open on the writer view %p", eng.open, eng.opens, v)
	}
}
