package raftcluster_test

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
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
		n, err := raftcluster.New(raftcluster.Config{ID: fmt.Sprint("n", i), Transport: tr, Stores: raftcluster.NewMemStores(), Timeouts: tt})
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

	// The flood: TCP connections to n0's Raft port that send nothing.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.Dial("tcp", nodes[0].RaftAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// A member joins through n0 (a forwarded request, then Raft's own
	// connections) while the flood lasts.
	if err := nodes[1].RequestJoin(ctx, nodes[0].RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodes[0].Apply(ctx, []byte("during the flood")); err != nil {
		t.Fatal(err)
	}
	if open, evicted, _ := trs[0].ConnStats(); open > maxConns || evicted == 0 {
		t.Fatalf("n0: %d open, %d evicted", open, evicted)
	}
	// Every flood connection is closed by n0: evicted or timed out.
	var wg sync.WaitGroup
	errs := make(chan error, flood)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("half-open connection %d still open after 5s", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("flood closed within %v", time.Since(start))
}
