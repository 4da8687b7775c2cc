package raftcluster_test

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// silentMember listens as member id: it completes the TLS handshake and
// reads whatever a Raft connection sends, but never answers. got receives
// once a Raft connection has carried bytes past its kind byte (an RPC is
// in flight).
func silentMember(t *testing.T, ca *testCA, id string) (addr string, got <-chan struct{}) {
	t.Helper()
	conf := ca.config(t, id)
	conf.ClientAuth = tls.RequireAndVerifyClientCert
	conf.MinVersion = tls.VersionTLS13
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan struct{}, 1)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, raw)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := tls.Server(raw, conf)
				var b [2]byte // kind byte, then the RPC's first
				if _, err := io.ReadFull(c, b[:]); err != nil {
					return
				}
				if b[0] == 'R' {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// TestShutdown_leaderSendingToSilentMember: a leader whose Raft RPCs to a
// member hang (the member accepted the connection and never answers; the
// RPC timeout is long) shuts down at once: Shutdown does not wait for the
// RPC timeout (nor, with a pipeline, for ever).
func TestShutdown_leaderSendingToSilentMember(t *testing.T) {
	ca := newCA(t)
	tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", ca.config(t, "n0"), 10*time.Minute, nil)
	require.NoError(t, err)
	n, err := raftcluster.New(raftcluster.Config{ID: "n0", Transport: tr, Stores: clustertest.NewStores(),
		Timeouts: clustertest.TestTimeouts()})
	require.NoError(t, err)
	shut := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case <-shut:
		default:
			n.Shutdown()
		}
	})
	ctx := ctxT(t, 20*time.Second)
	require.NoError(t, n.Bootstrap(ctx))
	require.NoError(t, clustertest.Poll(10*time.Second, func() bool { return n.State().Writer == "n0" }))

	addr, got := silentMember(t, ca, "m1")
	require.NoError(t, n.Join(ctx, "m1", addr, ""))
	for range 4 {
		_, _, err := n.Apply(ctx, make([]byte, 1024))
		require.NoError(t, err)
	}
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the leader sent nothing to the member")
	}

	start := time.Now()
	go func() { shut <- n.Shutdown() }()
	select {
	case err := <-shut:
		require.NoError(t, err)
		t.Logf("shutdown took %v", time.Since(start))
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown hangs on the RPCs in flight to a silent member")
	}
}
