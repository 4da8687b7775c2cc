package raftcluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

func TestNode_ReadIndex_coversCommitted(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		ctx := ctxT(t, 10*time.Second)
		l := c.Leader()
		idx, _, err := l.Apply(ctx, []byte("w"))
		if err != nil {
			t.Fatal(err)
		}
		ri, err := l.ReadIndex(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ri < idx || l.AppliedIndex() < ri {
			t.Fatalf("read index %d, write %d, applied %d", ri, idx, l.AppliedIndex())
		}
		if err := l.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		// A follower waits for the leader's read index before reading.
		for _, n := range c.Live() {
			if n == l {
				continue
			}
			if _, err := n.ReadIndex(ctx); !errors.Is(err, raftcluster.ErrNotLeader) {
				t.Fatalf("follower ReadIndex: %v", err)
			}
			if err := n.WaitApplied(ctx, ri); err != nil {
				t.Fatal(err)
			}
			a := c.Member(n.ID()).Applied()
			if len(a) == 0 || a[len(a)-1].Cmd != "w" {
				t.Fatalf("%s applied %v after WaitApplied(%d)", n.ID(), a, ri)
			}
		}
		// A leader cut off from its quorum cannot serve a linearizable read.
		c.Pause(l.ID())
		short := ctxT(t, time.Second)
		if _, err := l.ReadIndex(short); err == nil {
			t.Fatal("ReadIndex succeeded on an isolated leader")
		}
		c.Heal()
	})
}

func TestNode_Guard_closedOnFollowersAndAfterShutdown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 3})
		allVoters(c, 3)
		w, _ := c.Writer()
		for _, n := range c.Live() {
			err := n.Guard()(ctxT(t, time.Second))
			if n.ID() == w {
				if err != nil {
					t.Fatalf("writer guard: %v", err)
				}
			} else if !errors.Is(err, raftcluster.ErrFenced) {
				t.Fatalf("%s guard: %v, want ErrFenced", n.ID(), err)
			}
		}
		g := c.Node(w).Guard()
		c.Kill(w)
		if err := g(ctxT(t, time.Second)); !errors.Is(err, raftcluster.ErrFenced) {
			t.Fatalf("guard after shutdown: %v", err)
		}
	})
}
