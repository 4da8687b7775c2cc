package stability_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/vfs"
)

func testConfig() stability.Config {
	return stability.Config{Lease: time.Second, Margin: 100 * time.Millisecond, Heartbeat: 200 * time.Millisecond,
		RPCTimeout: 300 * time.Millisecond, ResetTimeout: 500 * time.Millisecond}
}

func joinAll(t *testing.T, c *cluster, ids ...string) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.join(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
	}
}

func mustWrite(t *testing.T, c *cluster, name string, data []byte, off int64) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.writeAt(name, data, off); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return time.Since(start)
}

func TestResponder_NewResponder_refusesReadsUntilJoined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1, testConfig(), "c1")
		mustWrite(t, c, "a", []byte("hello"), 0) // c1 says not joined: excluded
		err := readErr(c.node("c1").rec.View, "a")
		if !errors.Is(err, cow.ErrInvalidated) || !errors.Is(err, stability.ErrNotJoined) {
			t.Fatalf("read before join: %v, want ErrInvalidated and ErrNotJoined", err)
		}
		joinAll(t, c, "c1")
		mustWrite(t, c, "a", []byte("HELLO"), 0)
		b, err := vfs.ReadFile(c.node("c1").rec.View, "a")
		if err != nil || string(b) != "hello" {
			t.Fatalf("copier reads %q, %v; want the state at its join", b, err)
		}
	})
}

func TestCoordinator_Stabilize_steadyStateNeedsNoRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, testConfig(), "c1", "c2")
		// a is not created by the writer (whose own files need no round
		// at all): its blocks become stable by rounds.
		c.seedFile("a", make([]byte, 1024))
		joinAll(t, c, "c1", "c2")
		mustWrite(t, c, "a", make([]byte, 2048), 0)
		mustWrite(t, c, "a", make([]byte, 2048), 0) // every block stable now
		before := c.coord.Stats()
		for i := range 50 {
			mustWrite(t, c, "a", []byte{byte(i)}, int64(i*37%2048))
		}
		after := c.coord.Stats()
		if after.Rounds != before.Rounds {
			t.Fatalf("invariant 3: %d rounds for rewrites of stable blocks", after.Rounds-before.Rounds)
		}
		if after.Messages-after.Heartbeats != before.Messages-before.Heartbeats {
			t.Fatalf("round messages sent at steady state: %+v then %+v", before, after)
		}
		// A reset makes the region unstable again, once.
		joinAll(t, c, "c1")
		mustWrite(t, c, "a", []byte("y"), 0)
		mustWrite(t, c, "a", []byte("z"), 0)
		if got := c.coord.Stats().Rounds - after.Rounds; got != 1 {
			t.Fatalf("after a reset: %d rounds, want 1", got)
		}
	})
}

func TestCoordinator_Stabilize_excludesPartitionedCopier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		c := newCluster(t, 3, cfg, "c1", "c2")
		c.seedFile("a", []byte("v0")) // not created by the writer: its writes need rounds
		joinAll(t, c, "c1", "c2")
		mustWrite(t, c, "a", []byte("v1"), 0)
		c.net.Isolate("c1")
		stall := mustWrite(t, c, "a", []byte("v2"), 600) // grows the file: needs a round
		if stall <= 0 || stall > cfg.Lease+cfg.Margin {
			t.Fatalf("writer stalled %v, want in (0, Lease+Margin=%v]", stall, cfg.Lease+cfg.Margin)
		}
		t.Logf("writer stalled %v on a partitioned copier", stall)
		evs := c.excludedEvents()
		if len(evs) != 1 || evs[0].id != "c1" || evs[0].epoch != 1 {
			t.Fatalf("exclusions %+v, want c1 at epoch 1", evs)
		}
		err := readErr(c.node("c1").rec.View, "a")
		if !errors.Is(err, cow.ErrInvalidated) || !errors.Is(err, stability.ErrLeaseExpired) {
			t.Fatalf("excluded copier read: %v, want ErrInvalidated and ErrLeaseExpired", err)
		}
		if s := c.node("c1").resp.Stats(); s.LeaseLapses != 1 {
			t.Fatalf("lease lapses %d", s.LeaseLapses)
		}
		// Once excluded, the writer never waits for it again.
		if d := mustWrite(t, c, "b", []byte("new"), 0); d != 0 {
			t.Fatalf("writer waited %v after the exclusion", d)
		}
		c.checkView(c.node("c2"), "while c1 is out")
		// After healing, c1 resets and is waited for again.
		c.net.Heal()
		joinAll(t, c, "c1")
		mustWrite(t, c, "b", []byte("newer"), 0)
		c.checkView(c.node("c1"), "after rejoin")
		if s := c.coord.Stats(); s.Excluded != 1 || s.Resets != 3 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// dyingHandler preserves part of the first round it gets, then dies: its
// node is isolated and it never answers.
type dyingHandler struct {
	stability.Handler
	c    *cluster
	id   string
	died bool
}

func (d *dyingHandler) HandlePreserve(ctx context.Context, from string, req *stability.PreserveRequest) *stability.PreserveResponse {
	if d.died || len(req.Regions) == 0 {
		return d.Handler.HandlePreserve(ctx, from, req)
	}
	d.died = true
	half := req.Regions[:len(req.Regions)/2]
	if len(half) > 0 {
		d.c.node(d.id).rec.Preserve(ctx, half)
	}
	d.c.net.Isolate(d.id)
	<-ctx.Done()
	return &stability.PreserveResponse{Seq: req.Seq, Code: stability.CodeFailed, Detail: "dead"}
}

func TestCoordinator_Stabilize_copierDiesMidPreserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		c := newCluster(t, 4, cfg, "c1", "c2", "c3")
		c.seedFile("a", make([]byte, 4096)) // not created by the writer: its truncation needs a round
		joinAll(t, c, "c1", "c2", "c3")
		c.net.Listen("c2", &dyingHandler{Handler: c.node("c2").mux, c: c, id: "c2"})
		f, err := c.writer.Open("a", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Truncate(100); err != nil { // cuts 8 blocks: a multi-region round
			t.Fatal(err)
		}
		stall := time.Since(start)
		f.Close()
		if stall > cfg.Lease+cfg.Margin {
			t.Fatalf("writer stalled %v > Lease+Margin", stall)
		}
		if evs := c.excludedEvents(); len(evs) != 1 || evs[0].id != "c2" {
			t.Fatalf("exclusions %+v", evs)
		}
		if err := readErr(c.node("c2").rec.View, "a"); !errors.Is(err, stability.ErrLeaseExpired) {
			t.Fatalf("dead copier read: %v", err)
		}
		c.checkView(c.node("c1"), "after c2 died")
		c.checkView(c.node("c3"), "after c2 died")
	})
}

func TestResponder_HandlePreserve_refusesStaleEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 5, testConfig(), "c1", "c2")
		joinAll(t, c, "c1", "c2")
		mustWrite(t, c, "a", []byte("old writer"), 0)

		// A new writer, epoch 2, reaches the copiers.
		cfg2 := testConfig()
		cfg2.ID, cfg2.Transport = "w2", c.net.Transport("w2")
		w2, err := stability.NewCoordinator(cfg2)
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		if err := w2.SetCopiers(2, 1, []stability.Peer{{ID: "c1", Addr: "c1"}, {ID: "c2", Addr: "c2"}}); err != nil {
			t.Fatal(err)
		}
		if err := w2.Stabilize(context.Background(), []cow.Region{{Kind: cow.KindMeta, Path: "z"}}); err != nil {
			t.Fatalf("new writer: %v", err)
		}
		// The deposed writer gets no acknowledgement and does not mutate.
		err = c.writeAt("b", []byte("deposed"), 0)
		if !errors.Is(err, stability.ErrStaleEpoch) || !errors.Is(err, cow.ErrStabilize) {
			t.Fatalf("deposed writer's mutation: %v, want ErrStaleEpoch", err)
		}
		if _, err := c.raw.Stat("b"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("deposed writer created b: %v", err)
		}
		if s := c.coord.Stats(); s.StaleEpochGot == 0 {
			t.Fatalf("stats %+v", s)
		}
		var refused int64
		for _, id := range []string{"c1", "c2"} {
			refused += c.node(id).resp.Stats().StaleEpochRefusals
		}
		if refused == 0 {
			t.Fatal("no stale-epoch refusal counted")
		}
		// A direct request at the old epoch is refused with a typed error.
		resp := c.node("c1").resp.HandlePreserve(context.Background(), writerID, &stability.PreserveRequest{Epoch: 1, Writer: writerID, Seq: 1})
		if resp.Code != stability.CodeStaleEpoch || resp.Epoch != 2 || !errors.Is(resp.Code.Err(resp.Detail), stability.ErrStaleEpoch) {
			t.Fatalf("stale request answered %+v", resp)
		}
		// A copier that has seen epoch 3 refuses to reset with epoch 2.
		c.node("c1").resp.ObserveEpoch(3)
		err = w2.Stabilize(context.Background(), []cow.Region{{Kind: cow.KindMeta, Path: "y"}})
		a, e := w2.Copiers()
		t.Logf("w2 copiers %v excluded %v stats %+v", a, e, w2.Stats())
		if !errors.Is(err, stability.ErrStaleEpoch) {
			t.Fatalf("writer at epoch 2 after copier saw 3: %v", err)
		}
	})
}

func TestCoordinator_HandleReset_boundsQuiesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		c := newCluster(t, 6, cfg, "c1")
		joinAll(t, c, "c1")
		mustWrite(t, c, "a", []byte("v1"), 0)
		// c1 resets but hangs in its drop while the writer is quiesced.
		n := c.node("c1")
		hang := make(chan struct{})
		n.rec.hang = hang
		var once sync.Once
		release := func() { once.Do(func() { close(hang) }) }
		defer release()
		done := make(chan error, 1)
		go func() {
			done <- n.resp.Join(context.Background(), stability.Peer{ID: writerID, Addr: writerID})
		}()
		synctest.Wait() // the handshake is stuck in the drop, the writer quiesced
		_, before := c.quiesce.last()
		// (No mutation here: it would wait on the writer's lock, which
		// synctest cannot see through.)
		time.Sleep(cfg.ResetTimeout + time.Millisecond)
		synctest.Wait()
		d, after := c.quiesce.last()
		if after != before+1 || d != cfg.ResetTimeout {
			t.Fatalf("writer quiesced for %v (%d quiesces ended), want ResetTimeout %v", d, after-before, cfg.ResetTimeout)
		}
		mustWrite(t, c, "a", []byte("v2"), 0) // no longer quiesced
		release()
		err := <-done
		if err == nil {
			t.Fatal("join completed across an isolation")
		}
		if rerr := readErr(n.rec.View, "a"); !errors.Is(rerr, cow.ErrInvalidated) {
			t.Fatalf("copier after a failed reset reads: %v", rerr)
		}
		joinAll(t, c, "c1")
		c.checkView(n, "after retry")
	})
}

// TestCoordinator_Stabilize_faults runs a random workload of writer
// mutations, copier resets and network faults (loss, delay, partitions),
// checking invariants 2, 3, 5 and 7 throughout (see cluster).
func TestCoordinator_Stabilize_faults(t *testing.T) {
	seed := testSeed(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		ids := []string{"c1", "c2", "c3"}
		c := newCluster(t, seed, cfg, ids...)
		joinAll(t, c, ids...)
		rng := rand.New(rand.NewPCG(seed, 99))
		files := []string{"a", "b", "c", "d"}
		maxStall := cfg.Lease + cfg.Margin + cfg.RPCTimeout + cfg.ResetTimeout
		var writes, joins, failedJoins int
		for step := range 300 {
			switch k := rng.IntN(20); {
			case k < 12:
				name := files[rng.IntN(len(files))]
				start := time.Now()
				err := randomMutation(c, rng, name, files)
				if err != nil && (errors.Is(err, cow.ErrStabilize) || !errors.Is(err, fs.ErrNotExist)) {
					t.Fatalf("step %d: mutation of %s: %v", step, name, err)
				}
				if d := time.Since(start); d > maxStall {
					t.Fatalf("step %d: writer stalled %v > %v", step, d, maxStall)
				}
				writes++
			case k < 14:
				c.net.SetLoss(float64(rng.IntN(4)) * 0.05)
				c.net.SetDelay(0, time.Duration(rng.IntN(30))*time.Millisecond)
			case k < 15:
				c.net.Partition(writerID, ids[rng.IntN(len(ids))])
			case k < 16:
				c.net.Heal()
			case k < 18:
				id := ids[rng.IntN(len(ids))]
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				if err := c.join(ctx, id); err != nil {
					failedJoins++
				} else {
					joins++
				}
				cancel()
			default:
				time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond) // let time pass (fake clock)
			}
			for _, id := range ids {
				if n := c.node(id); n.rec.isValid() && n.resp.Joined() {
					c.checkView(n, fmt.Sprintf("at step %d", step))
				}
			}
			if t.Failed() {
				return
			}
		}
		c.net.Heal()
		c.net.SetLoss(0)
		joinAll(t, c, ids...)
		mustWrite(t, c, "final", []byte("x"), 0)
		for _, id := range ids {
			c.checkView(c.node(id), "at the end")
		}
		t.Logf("%d mutations, %d joins (%d failed), %d exclusions, stats %+v", writes, joins, failedJoins, len(c.excludedEvents()), c.coord.Stats())
	})
}

// randomMutation applies one random writer mutation to name.
func randomMutation(c *cluster, rng *rand.Rand, name string, files []string) error {
	switch rng.IntN(6) {
	case 0, 1, 2:
		data := make([]byte, 1+rng.IntN(700))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		return c.writeAt(name, data, int64(rng.IntN(3000)))
	case 3:
		f, err := c.writer.Open(name, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		return errors.Join(f.Truncate(int64(rng.IntN(3000))), f.Close())
	case 4:
		return c.writer.Remove(name)
	default:
		return c.writer.Rename(name, files[rng.IntN(len(files))])
	}
}
