package stability_test

import (
	"net"
	"testing"
	"time"

	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/connlimit/connlimittest"
	"github.com/holeycow/holeycow/stability/stabilitytest"
)

// TestGRPCServer_halfOpenFlood: connections that never complete the TLS
// handshake are closed after HandshakeTimeout, at most MaxConns stay
// open, and members' RPCs go through during the flood (issue 16: the
// stability listener held half-open TLS connections for 120 s).
func TestGRPCServer_halfOpenFlood(t *testing.T) {
	ca := stabilitytest.NewCA(t)
	const maxConns, flood = 8, 40
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := stability.NewGRPCServer(stability.GRPCConfig{ID: "c1", Cert: ca.NodeCert(t, "c1"), CA: ca.Pool,
		Limits: stability.GRPCLimits{HandshakeTimeout: 300 * time.Millisecond, MaxConns: maxConns}}, &countingHandler{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	connlimittest.Flood(t, addr, flood, false, 5*time.Second, func() {
		// A member's RPC goes through while the flood lasts.
		if resp, err := preserveOnce(t, transport(t, ca, "w", ca, ca.Pool), stability.Peer{ID: "c1", Addr: addr}, "w"); err != nil || resp.Code != stability.CodeOK {
			t.Fatalf("during the flood: %+v, %v", resp, err)
		}
		if open, evicted, _ := srv.ConnStats(); open > maxConns || evicted == 0 {
			t.Fatalf("%d open, %d evicted", open, evicted)
		}
	})
}
