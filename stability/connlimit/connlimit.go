// Package connlimit caps the connections a listener keeps open, making
// room for a new connection by closing the oldest one that is not doing
// anything useful (idle, or not yet authenticated) rather than refusing
// the newcomer or stalling Accept.
//
// The caller must:
//   - serve the Listener it returns in place of the one it wraps, and close
//     the connections it accepts (a *Conn releases its place on Close);
//   - say which connections may be evicted with SetEvictable (through Of,
//     which also finds a *Conn under a *tls.Conn): a new connection is
//     evictable until the caller marks it otherwise (once authenticated, or
//     while a request runs).
package connlimit

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Stats counts what the Listener did to stay under its cap.
type Stats struct {
	Open     int    // connections open now
	Evicted  uint64 // evictable connections closed to make room
	Rejected uint64 // new connections closed because none was evictable
}

// Listener is a net.Listener that keeps at most max connections open.
// When a connection arrives at the cap, it closes the evictable connection
// that became evictable the longest ago; if none is, it closes the new
// connection, and accepts the next.
//
// Concurrency: safe for concurrent use, as is every *Conn it returns.
type Listener struct {
	net.Listener
	max int

	mu struct {
		sync.Mutex
		open              map[*Conn]struct{}
		evicted, rejected uint64
	}
}

// New wraps ln; max <= 0 means no cap (connections are still tracked).
func New(ln net.Listener, max int) *Listener {
	l := &Listener{Listener: ln, max: max}
	l.mu.open = make(map[*Conn]struct{})
	return l
}

// Accept returns the next connection, as a *Conn, once there is room.
func (l *Listener) Accept() (net.Conn, error) {
	for { // each turn accepts one connection; ends on an Accept error
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &Conn{Conn: raw, l: l}
		c.mu.evictable, c.mu.since = true, time.Now()
		l.mu.Lock()
		var victim *Conn
		if l.max > 0 && len(l.mu.open) >= l.max {
			victim = l.oldestEvictableLocked()
			if victim == nil {
				l.mu.rejected++
				l.mu.Unlock()
				raw.Close()
				continue
			}
			delete(l.mu.open, victim)
			l.mu.evicted++
		}
		l.mu.open[c] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close() // its own Close finds it gone from open
		}
		return c, nil
	}
}

func (l *Listener) oldestEvictableLocked() *Conn {
	var best *Conn
	var bestSince time.Time
	for c := range l.mu.open {
		c.mu.Lock()
		ev, since := c.mu.evictable, c.mu.since
		c.mu.Unlock()
		if ev && (best == nil || since.Before(bestSince)) {
			best, bestSince = c, since
		}
	}
	return best
}

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: len(l.mu.open), Evicted: l.mu.evicted, Rejected: l.mu.rejected}
}

// Conn is a connection that a Listener accepted.
type Conn struct {
	net.Conn
	l  *Listener
	mu struct {
		sync.Mutex
		evictable bool
		since     time.Time
	}
}

// SetEvictable says whether c may be closed to make room for a newer
// connection: it may while idle or unauthenticated, not while it serves.
// Among evictable connections the one marked the longest ago goes first.
func (c *Conn) SetEvictable(ev bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev != c.mu.evictable {
		c.mu.evictable, c.mu.since = ev, time.Now()
	}
}

// Close closes the connection and releases its place.
func (c *Conn) Close() error {
	c.l.mu.Lock()
	delete(c.l.mu.open, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// Release gives up c's place without closing it: the listener no longer
// counts it, nor ever evicts it. For a connection handed over to another
// server that caps its connections itself. Close still closes it.
func (c *Conn) Release() {
	c.l.mu.Lock()
	delete(c.l.mu.open, c)
	c.l.mu.Unlock()
}

// Of returns the *Conn that c is or wraps (a *tls.Conn over it, or any
// connection with a NetConn method), nil if none.
func Of(c net.Conn) *Conn {
	for range 8 { // wrappers nest a few deep at most
		switch x := c.(type) {
		case *Conn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}
