package raftcluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/stability/connlimit/connlimittest"
)

// TestTLSTransport_halfOpenFlood: connections that never complete the TLS
// handshake are closed after HandshakeTimeout, never more than MaxConns
// stay open, and members still connect during the flood (issue 16: a
// listener held half-open TLS connections for 120 s).
func TestTLSTransport_halfOpenFlood(t *testing.T) {
	ca := newCA(t)
	const maxConns, flood = 8, 40
	lim := raftcluster.TLSLimits{HandshakeTimeout: 300 * time.Millisecond, MaxConns: maxConns}
	tt := clustertest.TestTimeouts()
	var nodes []*raftcluster.Node
	var trs []*raftcluster.TLSTransport
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	for i := range 2 {
		tr, err := raftcluster.NewTLSTransportWithLimits("127.0.0.1:0", "", ca.config(t, fmt.Sprint("n", i)), time.Second, nil, lim)
		if err != nil {
			t.Fatal(err)
		}
		n, err := raftcluster.New(raftcluster.Config{ID: fmt.Sprint("n", i), Transport: tr, Stores: clustertest.NewStores(), Timeouts: tt})
		if err != nil {
			t.Fatal(err)
		}
		nodes, trs = append(nodes, n), append(trs, tr)
	}
	ctx := ctxT(t, 20*time.Second)
	if err := nodes[0].Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertest.Poll(10*time.Second, func() bool { return nodes[0].State().Writer == "n0" }); err != nil {
		t.Fatal(err)
	}

	// The flood: TCP connections to n0's Raft port that send nothing. A
	// member joins through n0 (a forwarded request, then Raft's own
	// connections) while it lasts; then n0 closes every flood connection
	// (evicted or timed out).
	connlimittest.Flood(t, nodes[0].RaftAddr(), flood, false, 5*time.Second, func() {
		if err := nodes[1].RequestJoin(ctx, nodes[0].RaftAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := nodes[0].Apply(ctx, []byte("during the flood")); err != nil {
			t.Fatal(err)
		}
		if open, evicted, _ := trs[0].ConnStats(); open > maxConns || evicted == 0 {
			t.Fatalf("n0: %d open, %d evicted", open, evicted)
		}
	})
}
