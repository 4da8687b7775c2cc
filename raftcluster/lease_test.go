package raftcluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_Guard_renewsLapsedLease: a writer whose lease lapsed while it
// still leads renews it inside Guard and passes; an isolated writer whose
// lease lapsed cannot renew it and is fenced.
func TestNode_Guard_renewsLapsedLease(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		w, _ := c.Writer()
		n := c.Node(w)
		for i := range 20 {
			raftcluster.ExpireWriterLease(n)
			if err := n.Guard()(ctxT(t, time.Second)); err != nil {
				t.Fatalf("check %d: guard of a healthy writer after its lease lapsed: %v", i, err)
			}
		}
		if s := n.LeaseStats(); s.GuardRenewals < 20 || s.Renewals < 20 || s.GuardRefusals != 0 {
			t.Fatalf("lease stats after 20 renewals in Guard: %+v", s)
		}
		c.Pause(w)
		// Let every quorum round that started before the isolation run
		// out (logical time: the bubble's clock jumps).
		time.Sleep(clustertest.TestTimeouts().WriterLease)
		raftcluster.ExpireWriterLease(n)
		if err := n.Guard()(ctxT(t, time.Second)); !errors.Is(err, raftcluster.ErrFenced) {
			t.Fatalf("guard of an isolated writer after its lease lapsed: %v, want ErrFenced", err)
		}
		if s := n.LeaseStats(); s.GuardRefusals == 0 || s.Failures == 0 {
			t.Fatalf("lease stats after a refusal: %+v", s)
		}
		c.Heal()
	})
}

// TestNode_RequestJoin_waitsForLeader: a join requested while the
// cluster has no leader (no quorum) completes once a leader is elected,
// instead of failing with "leader unknown".
func TestNode_RequestJoin_waitsForLeader(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		w, _ := c.Writer()
		others := voterIDs(c.Leader(), w)
		for _, id := range others {
			c.Kill(id)
		}
		c.WaitFor("no leader", 10*time.Second, func() bool { return !c.Node(w).IsLeader() })
		joined := make(chan error, 1)
		m := c.Start("n4")
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			joined <- m.Node.RequestJoin(ctx, c.Node(w).RaftAddr())
		}()
		// Let the join run into the leaderless cluster for a while.
		select {
		case err := <-joined:
			t.Fatalf("join returned while the cluster had no leader: %v", err)
		case <-time.After(3 * time.Second):
		}
		c.Restart(others[0])
		select {
		case err := <-joined:
			if err != nil {
				t.Fatalf("join after a leader was elected: %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Fatal("join did not complete after a leader was elected")
		}
		c.WaitFor("n4 recorded", 10*time.Second, func() bool {
			_, ok := c.Leader().State().Member("n4")
			return ok
		})
	})
}

// TestNode_RequestJoin_retriesUnknownOutcome: a join whose leader loses
// leadership while committing it (an unknown outcome, as on a loaded
// machine) is asked again, of the next leader: Join is idempotent for
// the same addresses.
func TestNode_RequestJoin_retriesUnknownOutcome(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		l := c.Leader()
		m := c.Start("n4")
		// The leader, with the joining node only: it takes the join but
		// cannot commit it, and steps down.
		c.Partition([]string{l.ID(), "n4"}, voterIDs(l, l.ID()))
		joined := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			joined <- m.Node.RequestJoin(ctx, l.RaftAddr())
		}()
		c.WaitFor("the leader steps down", 10*time.Second, func() bool { return !l.IsLeader() })
		select {
		case err := <-joined:
			t.Fatalf("join returned while the cluster was partitioned: %v", err)
		case <-time.After(time.Second):
		}
		c.Heal()
		select {
		case err := <-joined:
			if err != nil {
				t.Fatalf("join after the partition healed: %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Fatal("join did not complete after the partition healed")
		}
		c.WaitFor("n4 recorded", 10*time.Second, func() bool {
			_, ok := c.Leader().State().Member("n4")
			return ok
		})
	})
}
