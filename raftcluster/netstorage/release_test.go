package netstorage_test

import (
	"errors"
	"io/fs"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
)

// scratchFiles returns the bytes of the overlay files on scratch, and
// whether its overlay directory exists.
func scratchFiles(t *testing.T, scratch vfs.FS) (int64, bool) {
	t.Helper()
	names, err := scratch.List("overlay")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		fi, err := scratch.Stat("overlay/" + name)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n, true
}

// TestStorage_Release_scratch: overlays spilled to a member's scratch
// space go when they are dropped: a killed (closed) copier's view, a view
// that promotion pushed to shared storage. Only each live copier's
// current view keeps an overlay on scratch.
func TestStorage_Release_scratch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		byID := map[string][]*vfs.MemFS{} // the scratch of every store made, in order
		r := newRig(t, rigOptions{nodes: 3, seed: 11,
			newStore: func(id string) func() (cow.Store, error) {
				return func() (cow.Store, error) {
					m := vfs.NewMem()
					mu.Lock()
					byID[id] = append(byID[id], m)
					mu.Unlock()
					return cow.NewDirStore(m)
				}
			}})
		r.apply(30)
		r.check("initial")
		w, _ := r.c.Writer()
		var c string
		for _, id := range r.c.IDs() {
			if id != w {
				c = id
			}
		}
		if n, _ := r.c.Writer(); n != w {
			t.Fatalf("writer moved: %s", n)
		}
		r.kill(c)
		mu.Lock()
		killed := byID[c][len(byID[c])-1]
		mu.Unlock()
		if n, dir := scratchFiles(t, killed); dir || n != 0 {
			t.Errorf("killed copier %s left %d bytes on scratch (overlay directory: %v)", c, n, dir)
		}
		r.apply(10)
		r.restart(c)
		r.apply(10)
		r.check("copier restarted")
		r.kill(w)
		r.apply(20)
		r.check("failover")
		r.restart(w)
		r.apply(20)
		r.check("writer restarted")
		nw, _ := r.c.Writer()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range r.c.IDs() {
			stores := byID[id]
			for i, s := range stores {
				n, dir := scratchFiles(t, s)
				current := i == len(stores)-1
				switch {
				case !current && (dir || n != 0):
					t.Errorf("%s: dropped view %d of %d left %d bytes on scratch (overlay directory: %v)", id, i+1, len(stores), n, dir)
				case current && id == nw && n != 0:
					t.Errorf("%s: the writer's promoted view left %d bytes on scratch", id, n)
				case current && id != nw && (!dir || n == 0):
					t.Errorf("%s: the live copier's overlay is not on scratch (%d bytes)", id, n)
				}
			}
			t.Logf("%s: %d views", id, len(stores))
		}
	})
}
