package raftcluster_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// countingProxy forwards the TCP connections it accepts to target and
// counts the bytes in both directions and the connections.
//
// Concurrency: safe for concurrent use.
type countingProxy struct {
	ln     net.Listener
	target string
	bytes  atomic.Int64
	conns  atomic.Int64
	closed atomic.Int64 // connections ended
	wg     sync.WaitGroup
}

func newCountingProxy(t *testing.T) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &countingProxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) start(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go p.serve(c)
		}
	}()
}

func (p *countingProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.closed.Add(1)
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		n, _ := io.Copy(dst, src)
		p.bytes.Add(n)
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}

// TestTLSTransport_forwardReusesConnections: forwarded requests to one
// member share a connection, so that each costs its request and reply,
// not a TLS handshake with two certificates (about 5 KB). A member that
// joins sends several (its join, its first overlay reports; the other
// copiers report too), each counted in the bytes a join moves.
func TestTLSTransport_forwardReusesConnections(t *testing.T) {
	a, b, proxy := forwardPair(t, raftcluster.TLSLimits{})
	ctx := ctxT(t, 20*time.Second)
	_, err := b.Ping(ctx, a.RaftAddr())
	require.NoError(t, err)
	const more = 20
	for range more {
		_, err := b.Ping(ctx, a.RaftAddr())
		require.NoError(t, err)
	}
	// Close every connection so that the proxy has counted everything.
	b.Shutdown()
	a.Shutdown()
	proxy.ln.Close()
	proxy.wg.Wait()
	total := proxy.bytes.Load()
	// A handshake alone is several KB; 21 pings with their replies are
	// well under 1 KB each.
	require.Less(t, total, int64(3000+more*300), "%d bytes for %d pings", total, more+1)
	require.EqualValues(t, 1, proxy.conns.Load(), "one connection carries every request")
	t.Logf("%d pings: %d bytes on %d connection(s)", more+1, total, proxy.conns.Load())
}

// TestTLSTransport_forwardAfterIdleClose: a member closes a forward
// connection left idle for its ForwardIdle; the next request, sent on
// that connection by a peer that still holds it, goes through on a new
// one.
func TestTLSTransport_forwardAfterIdleClose(t *testing.T) {
	// a closes idle forward connections at once; b would reuse them for
	// DefaultForwardIdle/2.
	a, b, proxy := forwardPair(t, raftcluster.TLSLimits{ForwardIdle: time.Nanosecond})
	ctx := ctxT(t, 20*time.Second)
	_, err := b.Ping(ctx, a.RaftAddr())
	require.NoError(t, err)
	require.NoError(t, clustertest.Poll(10*time.Second, func() bool { return proxy.closed.Load() == 1 }))
	_, err = b.Ping(ctx, a.RaftAddr())
	require.NoError(t, err, "a request on a connection the peer closed is sent again on a new one")
	require.EqualValues(t, 2, proxy.conns.Load())
}

// forwardPair starts members a and b (not a cluster: pings need none),
// a reached through a counting proxy and limited by lim.
func forwardPair(t *testing.T, lim raftcluster.TLSLimits) (a, b *raftcluster.Node, proxy *countingProxy) {
	ca := newCA(t)
	tt := clustertest.TestTimeouts()
	proxy = newCountingProxy(t)
	bind := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}
	var nodes []*raftcluster.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	start := func(id, bind, advertise string, lim raftcluster.TLSLimits) *raftcluster.Node {
		tr, err := raftcluster.NewTLSTransportWithLimits(bind, advertise, ca.config(t, id), time.Second, nil, lim)
		require.NoError(t, err)
		n, err := raftcluster.New(raftcluster.Config{ID: id, Transport: tr, Stores: clustertest.NewStores(),
			Timeouts: tt, Apply: func(uint64, []byte) []byte { return nil }})
		require.NoError(t, err)
		nodes = append(nodes, n)
		return n
	}
	aBind := bind()
	a = start("a", aBind, proxy.ln.Addr().String(), lim) // a is reached through the proxy
	proxy.start(aBind)
	b = start("b", "127.0.0.1:0", "", raftcluster.TLSLimits{})
	return a, b, proxy
}
