package cow

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: pick one and log it)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t *testing.T) uint64 {
	return vfstest.Seed(t, *seedFlag)
}

// TestCopier_ReadAt_neverPostImage: many goroutines read a copier while
// the writer overwrites the same blocks, in files the copier has not
// overlaid yet (where a read that checked the overlay, then read shared
// storage after a Preserve and the writer's write, would see the
// post-image) and in files it has. Every read must return the pre-image
// (invariant 1), which needs Preserve and reads to be linearizable
// (invariant 8).
func TestCopier_ReadAt_neverPostImage(t *testing.T) {
	seed := testSeed(t)
	const bs, blocks, files, readers, rounds = 512, 4, 32, 3, 2
	shared := vfs.NewMem()
	pre := make([]byte, blocks*bs)
	for i := range pre {
		pre[i] = byte(i/bs) + 1
	}
	name := func(i int) string { return fmt.Sprintf("f%02d", i) }
	for i := range files {
		must(t, vfs.WriteFile(shared, name(i), pre, 0o644))
	}
	c, err := NewCopier(shared, Options{BlockSize: bs})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{BlockSize: bs})
	must(t, err)
	t.Cleanup(func() { must(t, c.Check()); must(t, w.Check()) })

	cfs := make([]vfs.File, files)
	for i := range files {
		cfs[i], err = c.Open(name(i), os.O_RDONLY, 0)
		must(t, err)
		defer cfs[i].Close()
	}
	var next atomic.Int64 // the file the writer writes next: readers aim there
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			buf := make([]byte, 2*bs)
			for !stop.Load() {
				i := int(next.Load()) % files
				if rng.IntN(4) == 0 {
					i = rng.IntN(files)
				}
				off := rng.Int64N(int64(len(pre)))
				n := 1 + rng.IntN(len(buf))
				got, err := cfs[i].ReadAt(buf[:n], off)
				want := pre[off:min(off+int64(n), int64(len(pre)))]
				if got != len(want) || !bytes.Equal(buf[:got], want) {
					t.Errorf("ReadAt(%s, %d, +%d) = %d bytes, %v: not the pre-image", name(i), off, n, got, err)
					return
				}
				reads.Add(1)
			}
		})
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for round := range rounds {
		for i := range files {
			next.Store(int64(i))
			wf, err := w.Open(name(i), os.O_RDWR, 0)
			must(t, err)
			for range 3 {
				off := rng.Int64N(int64(len(pre)))
				data := bytes.Repeat([]byte{0xF0 | byte(round)}, 1+rng.IntN(2*bs))
				if _, err := wf.WriteAt(data, off); err != nil {
					t.Fatal(err)
				}
			}
			must(t, wf.Close())
		}
		// A new generation: every region is stabilized again while the
		// readers run.
		w.Forget()
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	t.Logf("%d reads during the writes; writer stats %+v", reads.Load(), w.Stats())
}

// gatedStabilizer blocks its first call until released, so that requests
// pile up behind it.
type gatedStabilizer struct {
	s       Stabilizer
	gate    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches [][]Region
}

func (g *gatedStabilizer) Stabilize(ctx context.Context, regions []Region) error {
	g.once.Do(func() { <-g.gate })
	g.mu.Lock()
	g.batches = append(g.batches, regions)
	g.mu.Unlock()
	return g.s.Stabilize(ctx, regions)
}

// TestWriter_WriteAt_batched: writes that need stabilization while a
// Stabilize call is in flight share the next call.
func TestWriter_WriteAt_batched(t *testing.T) {
	const bs, writers = 512, 8
	shared := vfs.NewMem()
	must(t, vfs.WriteFile(shared, "f", make([]byte, (writers+1)*bs), 0o644))
	c, err := NewCopier(shared, Options{BlockSize: bs})
	must(t, err)
	g := &gatedStabilizer{s: NewDirect(c), gate: make(chan struct{})}
	w, err := NewWriter(shared, g, Options{BlockSize: bs})
	must(t, err)
	wf, err := w.Open("f", os.O_RDWR, 0)
	must(t, err)
	defer wf.Close()

	var wg sync.WaitGroup
	// The first write takes the gated call; the others queue behind it.
	wg.Go(func() { _, err := wf.WriteAt([]byte("first"), 0); must(t, err) })
	for i := 1; i <= writers; i++ {
		wg.Go(func() { _, err := wf.WriteAt([]byte("next"), int64(i)*bs); must(t, err) })
	}
	// Wait (bounded) until every other write has joined the next batch.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.w.batch.mu.Lock()
		queued := 0
		if nb := w.w.batch.mu.next; nb != nil {
			queued = len(nb.regions)
		}
		w.w.batch.mu.Unlock()
		if queued == writers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes queued behind the first call", queued)
		}
		runtime.Gosched()
	}
	close(g.gate)
	wg.Wait()
	if len(g.batches) != 2 || len(g.batches[1]) != writers {
		t.Fatalf("Stabilize calls: %v; want 2, the second with %d regions", g.batches, writers)
	}
	st := w.Stats()
	if st.StabilizeCalls != 2 || st.RegionsStabilized != writers+1 || st.StableRegions != writers+1 {
		t.Fatalf("Stats = %+v", st)
	}
	// At steady state no write needs a round.
	for i := 0; i <= writers; i++ {
		_, err := wf.WriteAt([]byte("again"), int64(i)*bs)
		must(t, err)
	}
	if got := w.Stats().StabilizeCalls; got != 2 {
		t.Fatalf("StabilizeCalls = %d after rewriting stable blocks, want 2 (invariant 3)", got)
	}
	got, err := vfs.ReadFile(c, "f")
	must(t, err)
	if !bytes.Equal(got, make([]byte, (writers+1)*bs)) {
		t.Fatal("copier sees the writer's writes")
	}
	must(t, c.Check())
	must(t, w.Check())
}

// TestWriter_Forget_duringStabilize: a Forget while a Stabilize call is in
// flight must keep the call's regions out of the stable set (the copier
// that joined meanwhile has not preserved them).
func TestWriter_Forget_duringStabilize(t *testing.T) {
	const bs = 512
	shared := vfs.NewMem()
	must(t, vfs.WriteFile(shared, "f", make([]byte, 4*bs), 0o644))
	c, err := NewCopier(shared, Options{BlockSize: bs})
	must(t, err)
	local := NewDirect(c)
	var w *View
	var late *View
	calls := 0
	hook := stabilizerFunc(func(ctx context.Context, regions []Region) error {
		calls++
		if calls == 1 {
			// A copier joins while this round is in flight.
			var err error
			late, err = NewCopier(shared, Options{BlockSize: bs})
			if err != nil {
				return err
			}
			local.Add(late)
			w.Forget()
		}
		return local.Stabilize(ctx, regions)
	})
	w, err = NewWriter(shared, hook, Options{BlockSize: bs})
	must(t, err)
	wf, err := w.Open("f", os.O_RDWR, 0)
	must(t, err)
	defer wf.Close()
	_, err = wf.WriteAt([]byte("x"), 0)
	must(t, err)
	if calls != 2 {
		t.Fatalf("Stabilize calls = %d, want 2: the round that raced Forget must be redone", calls)
	}
	got, err := vfs.ReadFile(late, "f")
	must(t, err)
	if !bytes.Equal(got, make([]byte, 4*bs)) {
		t.Fatal("the copier that joined during the round sees the write")
	}
	must(t, late.Check())
	must(t, w.Check())
}

type stabilizerFunc func(ctx context.Context, regions []Region) error

func (f stabilizerFunc) Stabilize(ctx context.Context, regions []Region) error {
	return f(ctx, regions)
}

// TestCopier_Reset_prefix checks invariant 5: while the writer keeps
// writing version i to "a" and then to "b", a copier resets again and
// again; each time, what it sees must be a state of that sequence
// (a == b or a == b+1), and it must stay so while the writer goes on.
func TestCopier_Reset_prefix(t *testing.T) {
	shared := vfs.NewMem()
	must(t, vfs.WriteFile(shared, "a", []byte("0000"), 0o644))
	must(t, vfs.WriteFile(shared, "b", []byte("0000"), 0o644))
	c, err := NewCopier(shared, Options{})
	must(t, err)
	w, err := NewWriter(shared, NewDirect(c), Options{})
	must(t, err)
	wa, err := w.Open("a", os.O_RDWR, 0)
	must(t, err)
	defer wa.Close()
	wb, err := w.Open("b", os.O_RDWR, 0)
	must(t, err)
	defer wb.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; !stop.Load() && i < 1_000_000; i++ {
			v := []byte(fmt.Sprintf("%04d", i%10000))
			if _, err := wa.WriteAt(v, 0); err != nil {
				t.Error(err)
				return
			}
			if _, err := wb.WriteAt(v, 0); err != nil {
				t.Error(err)
				return
			}
		}
	})
	read := func(name string) int {
		b, err := vfs.ReadFile(c, name)
		must(t, err)
		var n int
		if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil {
			t.Fatalf("%s holds %q", name, b)
		}
		return n
	}
	for range 200 {
		must(t, c.Reset(context.Background(), w))
		a1, b1 := read("a"), read("b")
		if a1 != b1 && a1 != (b1+1)%10000 {
			t.Fatalf("after Reset the copier sees a=%d b=%d: not a prefix of the writer's sequence", a1, b1)
		}
		// The view is frozen from then on.
		for range 5 {
			if a2, b2 := read("a"), read("b"); a2 != a1 || b2 != b1 {
				t.Fatalf("copier view moved from a=%d b=%d to a=%d b=%d after the reset", a1, b1, a2, b2)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	must(t, c.Check())
	must(t, w.Check())
}
