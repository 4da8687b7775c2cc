package cluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
)

// TestBackend_Nodes_reachabilityObserved: /nodes reports reachability as
// observed, not as "not excluded": after a member crashes, the leader
// reports it unreachable (no answer to its heartbeats, with how long) and
// the live members reachable with a round-trip time; a follower, which
// hears from the leader only, probes the others and finds the crashed one
// unreachable too.
func TestBackend_Nodes_reachabilityObserved(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(x)"))
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dead, live *cluster.Node
	for _, n := range c.Nodes() {
		switch {
		case n == l:
		case dead == nil:
			dead = n
		default:
			live = n
		}
	}
	byID := func(ns []httpapi.NodeInfo) map[string]httpapi.NodeInfo {
		m := map[string]httpapi.NodeInfo{}
		for _, n := range ns {
			m[n.ID] = n
		}
		return m
	}
	ns, err := l.Backend().Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range byID(ns) {
		if !n.Reachable || n.Error != "" {
			t.Errorf("before the crash, leader reports %s: %+v", id, n)
		}
	}
	if err := c.Kill(dead.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, "leader sees the crash", func() bool {
		ns, err := l.Backend().Nodes(ctx)
		return err == nil && !byID(ns)[dead.ID()].Reachable
	}); err != nil {
		t.Fatal(err)
	}
	ns, _ = l.Backend().Nodes(ctx)
	m := byID(ns)
	if d := m[dead.ID()]; d.Error == "" {
		t.Errorf("leader: crashed member without a reason: %+v", d)
	}
	if lv := m[live.ID()]; !lv.Reachable || lv.Time <= 0 {
		t.Errorf("leader: live member %+v, want reachable with a round-trip time", lv)
	}
	fs, err := live.Backend().Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fm := byID(fs)
	if d := fm[dead.ID()]; d.Reachable || d.Error == "" {
		t.Errorf("follower: crashed member %+v, want unreachable with a reason", d)
	}
	if ld := fm[l.ID()]; !ld.Reachable || !ld.Leader {
		t.Errorf("follower: leader %+v, want reachable", ld)
	}
	if me := fm[live.ID()]; !me.Reachable {
		t.Errorf("follower: itself %+v", me)
	}
}
