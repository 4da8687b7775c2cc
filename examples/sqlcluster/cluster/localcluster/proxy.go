package localcluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/holeycow/holeycow/stability"
)

// countingProxy forwards every TCP connection it accepts to target and
// counts the bytes it carries in both directions. raftcluster's
// TLSTransport opens its own listener and dials by itself, so the bytes a
// member receives and sends are counted by advertising the proxy's
// address instead of the transport's: every connection to the member goes
// through its proxy.
//
// Concurrency: safe for concurrent use.
type countingProxy struct {
	ln     net.Listener
	target string
	bytes  *atomic.Int64
	stab   *atomic.Int64 // the part of bytes on stability connections
	own    atomic.Int64  // this proxy's bytes alone
	wg     sync.WaitGroup

	// mu guards conns, closed and cut.
	mu struct {
		sync.Mutex
		conns  map[net.Conn]struct{}
		closed bool
		cut    bool // refuse connections for now (setCut)
	}
}

// newCountingProxyAt listens on addr ("": a free 127.0.0.1 port) and
// adds every byte it forwards to bytes, and those of the stability
// protocol's connections (their first byte is stability.MuxPreamble, sent
// before TLS) to stab too. Call start with the target once it is known.
func newCountingProxyAt(addr string, bytes, stab *atomic.Int64) (*countingProxy, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localcluster: proxy listen: %w", err)
	}
	p := &countingProxy{ln: ln, bytes: bytes, stab: stab}
	p.mu.conns = map[net.Conn]struct{}{}
	return p, nil
}

func (p *countingProxy) Addr() string { return p.ln.Addr().String() }

func (p *countingProxy) start(target string) {
	p.target = target
	p.wg.Add(1)
	go p.acceptLoop()
}

func (p *countingProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed || p.mu.cut {
		return false
	}
	p.mu.conns[c] = struct{}{}
	return true
}

func (p *countingProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.mu.conns, c)
	p.mu.Unlock()
}

func (p *countingProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *countingProxy) serve(c net.Conn) {
	defer p.wg.Done()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c) || !p.track(up) {
		c.Close()
		up.Close()
		p.untrack(c)
		p.untrack(up)
		return
	}
	// The dialer speaks first (a TLS ClientHello or the stability
	// preamble): its first byte tells the protocol.
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		up.Close()
		p.untrack(c)
		p.untrack(up)
		return
	}
	var kind *atomic.Int64
	if first[0] == stability.MuxPreamble {
		kind = p.stab
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn, held []byte) {
		defer wg.Done()
		cw := &countWriter{w: dst, n: p.bytes, own: &p.own, kind: kind}
		if len(held) > 0 {
			if _, err := cw.Write(held); err != nil {
				src.Close()
			}
		}
		io.Copy(cw, src)
		// Half-close so that the other direction drains, then close.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	go pipe(up, c, first[:])
	go pipe(c, up, nil)
	wg.Wait()
	c.Close()
	up.Close()
	p.untrack(c)
	p.untrack(up)
}

// setCut cuts every connection and refuses new ones (cut), or lets them
// through again: a network partition of the member behind the proxy, for
// the connections others open to it.
func (p *countingProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.cut = cut
	if cut {
		for c := range p.mu.conns {
			c.Close()
		}
	}
}

// Close stops accepting, cuts every connection and waits for the
// forwarding goroutines.
func (p *countingProxy) Close() error {
	p.mu.Lock()
	p.mu.closed = true
	for c := range p.mu.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type countWriter struct {
	w    io.Writer
	n    *atomic.Int64
	own  *atomic.Int64 // nil: none
	kind *atomic.Int64 // nil: none
}

func (cw *countWriter) Write(b []byte) (int, error) {
	n, err := cw.w.Write(b)
	cw.n.Add(int64(n))
	if cw.own != nil {
		cw.own.Add(int64(n))
	}
	if cw.kind != nil {
		cw.kind.Add(int64(n))
	}
	return n, err
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a
// moment ago (the caller binds it at once and retries on failure).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
