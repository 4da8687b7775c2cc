package stability

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// MuxPreamble is the byte a GRPCTransport writes on each new connection
// before its TLS handshake. A listener shared with another protocol (the
// Raft port of raftcluster.TLSTransport) tells stability connections apart
// by it: a TLS connection starts with a handshake record, byte 0x16.
// GRPCServer.Serve accepts connections with or without it, so a stability
// endpoint on a port of its own serves every client as well.
const MuxPreamble byte = 'S'

// dialPreamble dials addr over TCP and writes MuxPreamble.
func dialPreamble(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{MuxPreamble}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// preambleListener returns connections that drop a leading MuxPreamble.
type preambleListener struct{ net.Listener }

func (l preambleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &preambleConn{Conn: c}, nil
}

// preambleConn drops a MuxPreamble that starts the stream, on the first
// Read (in the handshake's goroutine, never in Accept's).
//
// Concurrency: Reads must not run concurrently with each other (as for
// any net.Conn read by a TLS layer).
type preambleConn struct {
	net.Conn
	once sync.Once
	held []byte // the first byte, when it was not the preamble
	err  error
}

func (c *preambleConn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		var b [1]byte
		n, err := c.Conn.Read(b[:])
		if n == 0 && err == nil {
			err = io.ErrNoProgress
		}
		if n == 1 && b[0] != MuxPreamble {
			c.held = []byte{b[0]}
		}
		c.err = err
	})
	if len(c.held) > 0 && len(p) > 0 {
		p[0] = c.held[0]
		c.held = nil
		return 1, nil
	}
	if c.err != nil {
		err := c.err
		c.err = nil
		return 0, err
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection c wraps (connlimit.Of finds its *Conn
// through it).
func (c *preambleConn) NetConn() net.Conn { return c.Conn }
