package raftcluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

func TestMemNetwork_PartitionHeal(t *testing.T) {
	n := raftcluster.NewMemNetwork(0)
	for _, a := range []string{"a", "b", "c", "d"} {
		defer n.NewTransport(a).Close()
	}
	n.Partition([]string{"a", "b"}, []string{"c"})
	cases := []struct {
		x, y string
		want bool
	}{{"a", "b", true}, {"a", "c", false}, {"c", "b", false}, {"d", "a", true}, {"d", "c", true}}
	for _, c := range cases {
		if got := n.Connected(c.x, c.y); got != c.want {
			t.Errorf("Connected(%s,%s) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	n.Isolate("d")
	if n.Connected("a", "d") || n.Connected("d", "c") {
		t.Error("isolated d still connected")
	}
	n.Heal()
	if !n.Connected("a", "c") || !n.Connected("d", "b") {
		t.Error("not healed")
	}
	if n.Connected("a", "zz") {
		t.Error("connected to a missing transport")
	}
}

func TestSubscription_closedOnShutdown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 1})
		sub := c.Node("n1").Subscribe(4)
		c.Kill("n1")
		deadline := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-sub.C():
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("subscription not closed by Shutdown")
			}
		}
	})
}
