package netstorage_test

import (
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestStorage_BecomeWriter_failover kills the writer of a 3- and a 5-member
// cluster, twice per seed, and checks after each failover that every
// copier's view still equals its model, that shared storage equals the new
// writer's view, and (through the recorder) that no member mutated shared
// storage outside its own epoch.
func TestStorage_BecomeWriter_failover(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		for _, seed := range seeds(20) {
			t.Run(fmt.Sprintf("nodes=%d/seed=%d", nodes, seed), func(t *testing.T) {
				t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
				synctest.Test(t, func(t *testing.T) { failover(t, nodes, seed) })
			})
		}
	}
}

func failover(t *testing.T, nodes int, seed uint64) {
	rng := clustertest.Rand(seed)
	r := newRig(t, rigOptions{nodes: nodes, seed: seed})
	r.apply(5 + rng.IntN(10))
	r.check("initial")
	for round := range 2 {
		w, epoch := r.c.Writer()
		r.apply(rng.IntN(5))
		r.kill(w)
		nw, nepoch := r.c.Writer()
		if nw == w || nepoch <= epoch {
			t.Fatalf("round %d: writer %s/%d after %s/%d", round, nw, nepoch, w, epoch)
		}
		r.apply(3 + rng.IntN(8))
		r.check(fmt.Sprintf("failover %d (%s -> %s)", round, w, nw))
		// Restart it before the next failover: inside a synctest bubble,
		// a promotion that waits for a dead member's lease holds the
		// view's lock, and readers blocked on a mutex stop logical time.
		r.restart(w)
		r.apply(rng.IntN(5))
		r.check(fmt.Sprintf("restart %d (%s)", round, w))
	}
	// Copiers really are copiers, with their own writes in their overlays.
	w, _ := r.c.Writer()
	for _, n := range r.c.Live() {
		if n.ID() == w {
			continue
		}
		if v := r.storage(n.ID()).View(); v.Role() != cow.RoleCopier || v.Stats().OverlayBytes == 0 {
			t.Fatalf("%s: role %v overlay %d", n.ID(), v.Role(), v.Stats().OverlayBytes)
		}
	}
}
