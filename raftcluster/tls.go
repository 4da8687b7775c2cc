package raftcluster

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/connlimit"
)

// Connection kinds: the first byte a dialer writes after the TLS handshake.
const (
	connRaft    = 'R'
	connForward = 'F'
	// maxForwardSize bounds a forwarded request or reply.
	maxForwardSize = 1 << 20
	// DefaultHandshakeTimeout bounds the TLS handshake and the kind byte
	// of an accepted connection, and the I/O of a forwarded request.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxConns caps the connections a TLSTransport keeps open.
	DefaultMaxConns = 256
	// DefaultForwardIdle is how long a forward connection stays open
	// without a request (TLSLimits.ForwardIdle).
	DefaultForwardIdle = 30 * time.Second
	// maxIdleForward bounds the idle forward connections kept per peer.
	maxIdleForward = 2
)

// TLSLimits bound the connections a TLSTransport accepts. Zero fields take
// the defaults; a negative MaxConns means no cap.
type TLSLimits struct {
	// HandshakeTimeout bounds an accepted connection's TLS handshake and
	// kind byte (a connection that stays silent is closed then), and a
	// forwarded request's I/O.
	HandshakeTimeout time.Duration
	// MaxConns caps the open connections, Raft's and forwarded requests'
	// together. At the cap, a new connection closes the oldest one still
	// in its handshake (not yet authenticated); if none is, the new one is
	// closed.
	MaxConns int
	// ForwardIdle is how long an accepted forward connection waits for
	// its next request before it is closed; a dialer reuses an idle one
	// for at most half of it. Forwarded requests (joins, overlay and
	// reset reports, pings, commit-index queries) share connections so
	// that each does not cost a TLS handshake (two certificates, about
	// 5 KB on the wire).
	ForwardIdle time.Duration
}

// TLSTransport carries Raft over TCP with mutual TLS 1.3, and the
// forwarded control requests over the same listener (distinguished by a
// kind byte; a forward connection carries one request at a time, and is
// kept for the next request to the same member for up to
// TLSLimits.ForwardIdle/2, so that a burst of requests, as a join or a
// reset makes, costs one TLS handshake rather than one each; a request
// that finds its kept connection closed by the peer before any reply is
// sent again on a new one, which forwarded requests allow: joins are
// idempotent, a repeated report is rejected or harmless). The same port can carry the
// stability protocol too (StabilityListener): a connection that starts
// with stability.MuxPreamble before any TLS is handed over, unauthenticated,
// to the stability server, which runs its own mutual TLS handshake and
// identity checks.
//
// Every peer is authenticated as the member its certificate names
// (stability.NodeURI, holeycow://node/ID): a connection from or to a
// certificate that names no node is refused (an application certificate
// from the same CA does not make a member); a Raft connection to a member
// of the configuration is refused when the peer's certificate names
// another member; and a forwarded membership request (join, leave,
// reports) is refused unless it is about the member the caller's
// certificate names (ErrIdentity).
//
// Concurrency: safe for concurrent use.
type TLSTransport struct {
	ln        *connlimit.Listener
	handshake time.Duration
	fwdIdle   time.Duration // TLSLimits.ForwardIdle
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	log       *slog.Logger
	nt        *raft.NetworkTransport
	raftConns chan net.Conn
	done      chan struct{}
	wg        sync.WaitGroup
	refusals  repeats // rate-limits the warnings about refused peers
	// raftCtx is canceled by stopRaft: it ends the Raft dials in flight.
	raftCtx  context.Context
	raftStop context.CancelFunc

	// mu guards handler, memberAt, closed, stab, dialed, raftStopped and
	// idle.
	mu struct {
		sync.Mutex
		handler     forwardHandler
		memberAt    func(addr string) string
		closed      bool
		stab        *muxListener
		dialed      map[*raftConn]struct{} // open Raft connections this node dialed
		raftStopped bool
		idle        map[string][]idleConn // forward connections to reuse, by address, oldest first
	}
}

// NewTLSTransport listens on bind (host:port; port 0 picks one) and
// returns a transport that others reach at advertise ("" = the listener's
// address). conf must hold this node's certificate and the CA pool that
// signs every member's certificate, in both RootCAs and ClientCAs; the
// same certificates serve the stability layer. The transport forces TLS
// 1.3 and requires and verifies client certificates. rpcTimeout bounds
// each Raft RPC's I/O (0 = 10s).
func NewTLSTransport(bind, advertise string, conf *tls.Config, rpcTimeout time.Duration, logger *slog.Logger) (*TLSTransport, error) {
	return NewTLSTransportWithLimits(bind, advertise, conf, rpcTimeout, logger, TLSLimits{})
}

// NewTLSTransportWithLimits is NewTLSTransport with the connection limits
// lim.
func NewTLSTransportWithLimits(bind, advertise string, conf *tls.Config, rpcTimeout time.Duration, logger *slog.Logger, lim TLSLimits) (*TLSTransport, error) {
	if lim.HandshakeTimeout <= 0 {
		lim.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if lim.ForwardIdle <= 0 {
		lim.ForwardIdle = DefaultForwardIdle
	}
	switch {
	case lim.MaxConns == 0:
		lim.MaxConns = DefaultMaxConns
	case lim.MaxConns < 0:
		lim.MaxConns = 0
	}
	if conf == nil || (len(conf.Certificates) == 0 && conf.GetCertificate == nil) {
		return nil, fmt.Errorf("%w: TLS config needs a certificate", ErrInvalidConfig)
	}
	if conf.ClientCAs == nil {
		return nil, fmt.Errorf("%w: TLS config needs ClientCAs (mutual TLS)", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if rpcTimeout <= 0 {
		rpcTimeout = 10 * time.Second
	}
	server := conf.Clone()
	server.MinVersion = tls.VersionTLS13
	server.ClientAuth = tls.RequireAndVerifyClientCert
	client := conf.Clone()
	client.MinVersion = tls.VersionTLS13
	if client.GetClientCertificate == nil && len(client.Certificates) == 0 && conf.GetCertificate != nil {
		client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return conf.GetCertificate(&tls.ClientHelloInfo{})
		}
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raftcluster: listen %s: %w", bind, err)
	}
	adv := ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("%w: advertise address %q: %v", ErrInvalidConfig, advertise, err)
		}
		if a.IP == nil || a.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("%w: advertise address %q is not routable", ErrInvalidConfig, advertise)
		}
		adv = a
	}
	t := &TLSTransport{ln: connlimit.New(ln, lim.MaxConns), handshake: lim.HandshakeTimeout, fwdIdle: lim.ForwardIdle, advertise: adv, server: server, client: client, log: logger,
		raftConns: make(chan net.Conn), done: make(chan struct{})}
	t.raftCtx, t.raftStop = context.WithCancel(context.Background())
	t.nt = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  (*tlsStream)(t),
		MaxPool: 3,
		Timeout: rpcTimeout,
		Logger:  newHCLog(logger, "raft-net"),
	})
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Addr implements Transport: the advertised address.
func (t *TLSTransport) Addr() string { return t.advertise.String() }

// Close stops listening and closes Raft's connections.
func (t *TLSTransport) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	idle := t.mu.idle
	t.mu.idle = nil
	t.mu.Unlock()
	for _, conns := range idle {
		for _, ic := range conns {
			ic.c.Close()
		}
	}
	t.stopRaft()
	close(t.done)
	err := t.nt.Close() // closes the stream layer's listener too
	t.ln.Close()
	t.wg.Wait()
	return err
}

func (t *TLSTransport) raftTransport() raft.Transport { return t.nt }

// stopRaft implements Transport: it cancels the Raft dials in flight,
// closes the Raft connections this node dialed (an RPC blocked on one,
// pipelined or not, fails at once) and makes later Raft dials fail with
// ErrShutdown. Connections accepted from peers stay open until Close.
func (t *TLSTransport) stopRaft() {
	t.raftStop()
	t.mu.Lock()
	t.mu.raftStopped = true
	conns := slices.Collect(maps.Keys(t.mu.dialed))
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// raftConn is a Raft connection this node dialed; the transport keeps it
// in a set until it is closed, for stopRaft.
//
// Concurrency: as net.Conn.
type raftConn struct {
	net.Conn
	t    *TLSTransport
	once sync.Once
}

func (c *raftConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.mu.dialed, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// peerGone implements Transport: a TCP connection to addr is refused
// (nothing listens there: the process is gone, or its host rejects). It
// sends nothing; the peer's accept loop sees a connection that closes.
func (t *TLSTransport) peerGone(ctx context.Context, addr string) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// ConnStats reports the transport's open connections and those it closed
// to stay under TLSLimits.MaxConns.
func (t *TLSTransport) ConnStats() (open int, evicted, rejected uint64) {
	st := t.ln.Stats()
	return st.Open, st.Evicted, st.Rejected
}

func (t *TLSTransport) serve(h forwardHandler, memberAt func(string) string) {
	t.mu.Lock()
	t.mu.handler, t.mu.memberAt = h, memberAt
	t.mu.Unlock()
}

// peerID returns the member ID that the verified peer certificate of c
// names.
func peerID(c *tls.Conn) (string, error) {
	cs := c.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no peer certificate", ErrIdentity)
	}
	id, err := stability.NodeID(cs.PeerCertificates[0])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return id, nil
}

func (t *TLSTransport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.log.Warn("raftcluster: accept", "err", err)
			return
		}
		t.wg.Add(1)
		go t.accepted(c)
	}
}

func (t *TLSTransport) accepted(raw net.Conn) {
	defer t.wg.Done()
	raw.SetDeadline(time.Now().Add(t.handshake))
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		raw.Close()
		return
	}
	if first[0] == stability.MuxPreamble {
		t.handOff(raw)
		return
	}
	c := tls.Server(&peekedConn{Conn: raw, held: first[:]}, t.server)
	var kind [1]byte
	if err := c.Handshake(); err != nil {
		t.log.Debug("raftcluster: TLS handshake failed", "remote", raw.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	caller, err := peerID(c)
	if err != nil {
		const msg = "raftcluster: refused a connection from a certificate that names no member"
		if ok, left := t.refusals.allow(msg, []any{"peer", hostOf(raw.RemoteAddr())}); ok {
			t.log.Warn(msg, "remote", raw.RemoteAddr(), "err", err, "suppressed", left)
		}
		if kind[0] == connForward {
			// Say why, as the forwarding protocol can.
			c.SetDeadline(time.Now().Add(t.handshake))
			if _, rerr := readFrame(c); rerr == nil {
				writeFrame(c, encodeReply(err))
			}
		}
		c.Close()
		return
	}
	if lc := connlimit.Of(raw); lc != nil {
		lc.SetEvictable(false) // authenticated: a member's
	}
	switch kind[0] {
	case connRaft:
		select {
		case t.raftConns <- c:
		case <-t.done:
			c.Close()
		}
	case connForward:
		t.serveForward(c, caller)
	default:
		c.Close()
	}
}

// handOff passes raw, a stability connection, to the StabilityListener,
// or closes it when there is none. The stability server's own connection
// cap counts it from then on, not this transport's.
func (t *TLSTransport) handOff(raw net.Conn) {
	raw.SetDeadline(time.Time{})
	t.mu.Lock()
	ml := t.mu.stab
	t.mu.Unlock()
	if ml == nil {
		t.log.Debug("raftcluster: refused a stability connection: not serving the stability protocol", "remote", raw.RemoteAddr())
		raw.Close()
		return
	}
	if lc := connlimit.Of(raw); lc != nil {
		lc.Release()
	}
	select {
	case ml.conns <- raw:
	case <-ml.done:
		raw.Close()
	case <-t.done:
		raw.Close()
	}
}

// StabilityListener returns the listener of the connections to this
// transport's port that carry the stability protocol (they start with
// stability.MuxPreamble), for stability.GRPCServer.Serve: a node then
// needs one port for Raft, forwarded requests and stability. Until it is
// called, such connections are closed. Every call returns the same
// listener; its Close stops the hand-over (the transport keeps serving
// Raft), and Closing the transport closes it.
func (t *TLSTransport) StabilityListener() net.Listener {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stab == nil {
		t.mu.stab = &muxListener{t: t, conns: make(chan net.Conn), done: make(chan struct{})}
	}
	return t.mu.stab
}

// muxListener is a net.Listener of the connections a TLSTransport hands
// over.
//
// Concurrency: safe for concurrent use.
type muxListener struct {
	t     *TLSTransport
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.t.done:
		return nil, net.ErrClosed
	}
}

func (l *muxListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.t.advertise }

// peekedConn gives back the bytes read ahead of a connection's stream.
//
// Concurrency: as net.Conn, but Reads must not run concurrently.
type peekedConn struct {
	net.Conn
	held []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.held) > 0 {
		n := copy(p, c.held)
		c.held = c.held[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection c wraps (connlimit.Of finds its *Conn
// through it).
func (c *peekedConn) NetConn() net.Conn { return c.Conn }

// hostOf returns the host of a TCP address (its port changes with every
// connection).
func hostOf(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// serveForward answers the requests forwarded on c, one at a time, until
// the peer closes it, it stays idle for ForwardIdle, or the transport
// closes.
func (t *TLSTransport) serveForward(c net.Conn, caller string) {
	defer c.Close()
	served := make(chan struct{})
	defer close(served)
	go func() {
		select {
		case <-t.done:
			c.Close() // unblocks the wait for the next request
		case <-served:
		}
	}()
	wait := t.handshake // the first request follows the handshake
	for {
		c.SetDeadline(time.Now().Add(wait))
		req, err := readFrame(c)
		if err != nil {
			return
		}
		t.mu.Lock()
		h := t.mu.handler
		t.mu.Unlock()
		var reply []byte
		if h == nil {
			reply = encodeReply(fmt.Errorf("%w: not serving", ErrShutdown))
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), t.handshake)
			reply, err = h(ctx, caller, req)
			cancel()
			if err != nil {
				reply = encodeReply(err)
			}
		}
		c.SetDeadline(time.Now().Add(t.handshake))
		if writeFrame(c, reply) != nil {
			return
		}
		wait = t.fwdIdle
	}
}

func (t *TLSTransport) dial(ctx context.Context, addr string, kind byte) (*tls.Conn, error) {
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conf := t.client
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			raw.Close()
			return nil, err
		}
		conf = conf.Clone()
		conf.ServerName = host
	}
	c := tls.Client(raw, conf)
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	id, err := peerID(c)
	if err == nil && kind == connRaft {
		t.mu.Lock()
		memberAt := t.mu.memberAt
		t.mu.Unlock()
		if want := ""; memberAt != nil {
			if want = memberAt(addr); want != "" && want != id {
				err = fmt.Errorf("%w: %s answers with the certificate of %q, not of member %q", ErrIdentity, addr, id, want)
			}
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// idleConn is a forward connection kept for the next request.
type idleConn struct {
	c    net.Conn
	used time.Time // when its last reply arrived
}

// forward sends req to the member at addr and returns its reply, on an
// idle connection to addr if one is fresh enough, or on a new one.
func (t *TLSTransport) forward(ctx context.Context, addr string, req []byte) ([]byte, error) {
	if c := t.takeIdle(addr); c != nil {
		b, replying, reusable, err := exchange(ctx, c, req)
		if err == nil {
			t.keep(addr, c, reusable)
			return b, nil
		}
		c.Close()
		if replying || ctx.Err() != nil {
			return nil, fmt.Errorf("raftcluster: forward to %s: %w", addr, err)
		}
		// No byte of a reply: the peer closed the idle connection
		// before it read the request (its ForwardIdle ran out, or it
		// restarted). Send the request on a new connection.
	}
	c, err := t.dial(ctx, addr, connForward)
	if err != nil {
		return nil, fmt.Errorf("raftcluster: forward to %s: %w", addr, err)
	}
	b, _, reusable, err := exchange(ctx, c, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("raftcluster: forward to %s: %w", addr, err)
	}
	t.keep(addr, c, reusable)
	return b, nil
}

// keep keeps c for the next request to addr if it is reusable, and
// closes it otherwise.
func (t *TLSTransport) keep(addr string, c net.Conn, reusable bool) {
	if !reusable {
		c.Close()
		return
	}
	t.putIdle(addr, c)
}

// exchange writes req on c and reads the reply; replying says whether
// any byte of a reply arrived, reusable whether c may carry another
// request. It fails when ctx ends first.
func exchange(ctx context.Context, c net.Conn, req []byte) (reply []byte, replying, reusable bool, err error) {
	c.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	if err := writeFrame(c, req); err != nil {
		stop()
		return nil, false, false, err
	}
	r := &countingReader{r: c}
	b, err := readFrame(r)
	// stop is false once ctx ended: its deadline may be set on c.
	reusable = stop() && err == nil
	return b, r.n > 0, reusable, err
}

// countingReader counts the bytes read through it.
//
// Concurrency: none (one reader).
type countingReader struct {
	r io.Reader
	n int
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += n
	return n, err
}

// takeIdle returns the most recently used idle connection to addr that
// is still fresh enough to reuse, or nil; it closes the stale ones.
func (t *TLSTransport) takeIdle(addr string) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.mu.idle[addr]
	for len(conns) > 0 {
		ic := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		if time.Since(ic.used) < t.fwdIdle/2 {
			t.setIdle(addr, conns)
			return ic.c
		}
		// Older ones are staler still.
		ic.c.Close()
		for _, old := range conns {
			old.c.Close()
		}
		conns = nil
	}
	t.setIdle(addr, nil)
	return nil
}

// putIdle keeps c for the next request to addr, or closes it when the
// transport is closed or keeps enough already. Caller must not hold mu.
func (t *TLSTransport) putIdle(addr string, c net.Conn) {
	t.mu.Lock()
	if t.mu.closed || len(t.mu.idle[addr]) >= maxIdleForward {
		t.mu.Unlock()
		c.Close()
		return
	}
	if t.mu.idle == nil {
		t.mu.idle = map[string][]idleConn{}
	}
	t.mu.idle[addr] = append(t.mu.idle[addr], idleConn{c: c, used: time.Now()})
	t.mu.Unlock()
}

// setIdle stores the idle connections to addr. Caller must hold mu.
func (t *TLSTransport) setIdle(addr string, conns []idleConn) {
	if len(conns) == 0 {
		delete(t.mu.idle, addr)
		return
	}
	t.mu.idle[addr] = conns
}

func writeFrame(w io.Writer, b []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(append(hdr[:], b...)); err != nil {
		return err
	}
	return nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxForwardSize {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrBadCommand, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// tlsStream is the raft.StreamLayer view of a TLSTransport.
type tlsStream TLSTransport

var _ raft.StreamLayer = (*tlsStream)(nil)

func (s *tlsStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *tlsStream) Close() error { return s.ln.Close() }

func (s *tlsStream) Addr() net.Addr { return s.advertise }

func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	t := (*TLSTransport)(s)
	errStopped := fmt.Errorf("%w: raft transport stopped: dial %s", ErrShutdown, address)
	ctx, cancel := context.WithTimeout(t.raftCtx, timeout)
	defer cancel()
	c, err := t.dial(ctx, string(address), connRaft)
	if err != nil {
		if t.raftCtx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", errStopped, err)
		}
		return nil, err
	}
	rc := &raftConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.raftStopped {
		c.Close()
		return nil, errStopped
	}
	if t.mu.dialed == nil {
		t.mu.dialed = make(map[*raftConn]struct{})
	}
	t.mu.dialed[rc] = struct{}{}
	return rc, nil
}
