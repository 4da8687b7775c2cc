package clustertest_test

import (
	"testing"

	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

func TestRaftNetwork_PartitionHeal(t *testing.T) {
	n := clustertest.NewRaftNetwork(0)
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
