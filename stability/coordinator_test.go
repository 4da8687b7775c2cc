package stability_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
)

func TestCoordinator_Stabilize_fenceStopsMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		fenced := errors.New("no longer the writer")
		var fail atomic.Bool
		cfg.Fence = func(context.Context) error {
			if fail.Load() {
				return fenced
			}
			return nil
		}
		c := newCluster(t, 7, cfg, "c1")
		// a is not created by the writer: growing it needs a round. (The
		// writes of a file the writer created in this generation need
		// none, and so no Fence call: the writer view's Guard fences
		// those, as cow's TestWriter_createdFileGuard checks.)
		c.seedFile("a", []byte("v0"))
		joinAll(t, c, "c1")
		mustWrite(t, c, "a", []byte("v1"), 0)
		fail.Store(true)
		before := c.coord.Stats()
		err := c.writeAt("a", []byte("v2"), 4000)
		if !errors.Is(err, fenced) {
			t.Fatalf("fenced writer's mutation: %v", err)
		}
		// Without renewals the copier's lease lapses: it refuses reads.
		time.Sleep(cfg.Lease + cfg.Margin)
		if got := c.coord.Stats().Messages; got != before.Messages {
			t.Fatalf("%d messages sent while fenced", got-before.Messages)
		}
		if !errors.Is(readErr(c.node("c1").rec.View, "a"), stability.ErrLeaseExpired) {
			t.Fatal("copier still serves reads without renewals")
		}
		fail.Store(false)
		c.coord.Close() // the cleanup's Close is then a no-op
	})
}

func TestCoordinator_SetCopiers_membership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		c := newCluster(t, 8, cfg, "c1", "c2")
		joinAll(t, c, "c1", "c2")
		if err := c.coord.SetCopiers(0, 9, nil); !errors.Is(err, stability.ErrStaleEpoch) {
			t.Fatalf("older epoch: %v", err)
		}
		if err := c.coord.SetCopiers(1, 0, nil); !errors.Is(err, stability.ErrStaleEpoch) {
			t.Fatalf("older generation: %v", err)
		}
		for _, bad := range [][]stability.Peer{{{ID: ""}}, {{ID: writerID}}, {{ID: "x"}, {ID: "x"}}} {
			if err := c.coord.SetCopiers(1, 5, bad); !errors.Is(err, stability.ErrConfig) {
				t.Fatalf("peers %v: %v", bad, err)
			}
		}
		// c2 leaves (it stops serving first, as the caller must ensure).
		c.node("c2").resp.Close()
		c.net.Isolate("c2")
		if err := c.coord.SetCopiers(1, 2, []stability.Peer{{ID: "c1", Addr: "c1"}}); err != nil {
			t.Fatal(err)
		}
		if d := mustWrite(t, c, "a", []byte("x"), 0); d != 0 {
			t.Fatalf("writer waited %v for a removed copier", d)
		}
		if a, e := c.coord.Copiers(); len(a) != 1 || a[0] != "c1" || len(e) != 0 {
			t.Fatalf("copiers %v excluded %v", a, e)
		}
		// A node outside the membership cannot reset with the writer.
		c.net.Heal()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.node("c2").resp.Join(ctx, stability.Peer{ID: writerID, Addr: writerID}); err == nil {
			t.Fatal("closed responder joined")
		}
		n := c.addCopier("c9")
		if err := n.resp.Join(ctx, stability.Peer{ID: writerID, Addr: writerID}); !errors.Is(err, stability.ErrNotMember) {
			t.Fatalf("non-member join: %v", err)
		}
		// After Close, Stabilize fails.
		c.coord.Close()
		if err := c.coord.Stabilize(context.Background(), []cow.Region{{Kind: cow.KindMeta, Path: "z"}}); !errors.Is(err, stability.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}

func TestMux_HandlePreserve_noRole(t *testing.T) {
	var m stability.Mux
	resp := m.HandlePreserve(context.Background(), "w", &stability.PreserveRequest{Epoch: 1, Writer: "w", Seq: 4})
	if resp.Code != stability.CodeNotServing || resp.Seq != 4 {
		t.Fatalf("%+v", resp)
	}
}

func TestResponder_HandlePreserve_renewsOnlyAcknowledged(t *testing.T) {
	lease := testConfig().Lease
	req := func(seq, acked uint64) *stability.PreserveRequest {
		return &stability.PreserveRequest{Epoch: 1, Writer: writerID, Seq: seq, AckedSeq: acked}
	}
	// handDriven returns a joined Responder whose writer has stopped, so
	// that the test sends it messages by hand.
	handDriven := func(t *testing.T, seed uint64) *stability.Responder {
		c := newCluster(t, seed, testConfig(), "c1")
		joinAll(t, c, "c1")
		c.coord.Close()
		return c.node("c1").resp
	}
	t.Run("unacknowledged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := handDriven(t, 10)
			joined := time.Now()
			for i := uint64(1); i <= 3; i++ {
				time.Sleep(lease / 4)
				if resp := r.HandlePreserve(context.Background(), writerID, req(100+i, 0)); resp.Code != stability.CodeOK {
					t.Fatalf("seq %d: %+v", i, resp)
				}
			}
			// Acknowledging a Seq never received does not renew either.
			r.HandlePreserve(context.Background(), writerID, req(200, 50))
			time.Sleep(time.Until(joined.Add(lease)))
			if r.Joined() {
				t.Fatal("lease extended by unacknowledged messages")
			}
		})
	})
	t.Run("acknowledged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := handDriven(t, 11)
			time.Sleep(lease / 2)
			t0 := time.Now() // seq 1 received now; seq 2 says it was acknowledged
			r.HandlePreserve(context.Background(), writerID, req(1, 0))
			time.Sleep(lease / 4)
			r.HandlePreserve(context.Background(), writerID, req(2, 1))
			time.Sleep(time.Until(t0.Add(lease)) - time.Millisecond)
			if !r.Joined() {
				t.Fatal("lease lapsed before receipt of the acknowledged message + Lease")
			}
			time.Sleep(time.Millisecond)
			if r.Joined() {
				t.Fatal("lease outlived receipt of the acknowledged message + Lease")
			}
			if resp := r.HandlePreserve(context.Background(), writerID, req(3, 2)); resp.Code != stability.CodeNotJoined {
				t.Fatalf("after the lapse: %+v", resp)
			}
			if s := r.Stats(); s.LeaseLapses != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	})
}

// TestCoordinator_Stabilize_concurrent: concurrent calls all complete,
// each in a message of its own per copier (the links do not merge rounds:
// batching is cow's).
func TestCoordinator_Stabilize_concurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 12, testConfig(), "c1", "c2")
		joinAll(t, c, "c1", "c2")
		c.net.SetDelay(5*time.Millisecond, 5*time.Millisecond)
		before := c.coord.Stats()
		const calls = 20
		errs := make(chan error, calls)
		for i := range calls {
			go func() {
				errs <- c.coord.Stabilize(context.Background(), []cow.Region{{Kind: cow.KindMeta, Path: fmt.Sprintf("f%d", i)}})
			}()
		}
		for range calls {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		after := c.coord.Stats()
		msgs := (after.Messages - after.Heartbeats) - (before.Messages - before.Heartbeats)
		if msgs != 2*calls || after.Rounds-before.Rounds != calls || after.RoundRegions-before.RoundRegions != calls {
			t.Fatalf("%d calls took %d messages to 2 copiers; stats %+v", calls, msgs, after)
		}
	})
}

func TestCoordinator_SetCopiers_addressChangeKeepsRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 13, testConfig(), "c1")
		joinAll(t, c, "c1")
		// The copier moves: its old address is unreachable, so the round
		// waits until the new address is known, then completes with it.
		c.net.ListenAt("c1-new", "c1", c.node("c1").mux)
		c.net.Unlisten("c1")
		done := make(chan error, 1)
		go func() {
			done <- c.coord.Stabilize(context.Background(), []cow.Region{{Kind: cow.KindMeta, Path: "q"}})
		}()
		time.Sleep(100 * time.Millisecond)
		if err := c.coord.SetCopiers(1, 2, []stability.Peer{{ID: "c1", Addr: "c1-new"}}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if evs := c.excludedEvents(); len(evs) != 0 {
			t.Fatalf("excluded %+v", evs)
		}
		c.node("c1").rec.mu.Lock()
		ok := c.node("c1").rec.mu.cv.meta["q"]
		c.node("c1").rec.mu.Unlock()
		if !ok {
			t.Fatal("round completed without the moved copier preserving")
		}
	})
}

// TestCoordinator_Stabilize_longPaths: a batch whose paths add up to more
// than one message can carry (2,000 regions of 3 KB paths, a directory's
// worth of renames) goes out in several messages and every copier
// preserves all of it.
func TestCoordinator_Stabilize_longPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 14, testConfig(), "c1")
		joinAll(t, c, "c1")
		dir := strings.Repeat("d", 200)
		long := strings.TrimSuffix(strings.Repeat(dir+"/", 14), "/")
		var regions []cow.Region
		for i := range 2000 {
			regions = append(regions, cow.Region{Kind: cow.KindMeta, Path: fmt.Sprintf("%s/f%d", long, i)})
		}
		before := c.coord.Stats()
		if err := c.coord.Stabilize(context.Background(), regions); err != nil {
			t.Fatal(err)
		}
		after := c.coord.Stats()
		if msgs := (after.Messages - after.Heartbeats) - (before.Messages - before.Heartbeats); msgs < 2 {
			t.Fatalf("%d messages for %d regions of %d bytes", msgs, len(regions), len(regions[0].Path))
		}
		c.mu.Lock()
		cn := c.mu.copiers["c1"]
		c.mu.Unlock()
		if got := cn.rec.Stats().OverlayFiles; got < len(regions) {
			t.Fatalf("the copier preserved %d paths of %d", got, len(regions))
		}
	})
}
