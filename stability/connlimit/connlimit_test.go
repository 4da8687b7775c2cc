package connlimit

import (
	"errors"
	"net"
	"testing"
	"time"
)

// closedByPeer reports whether the server closed client's connection,
// waiting up to d.
func closedByPeer(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil // EOF or reset
}

// dialAccept connects to raw and accepts the connection through l,
// returning the client end and the server's *Conn; both close at the end
// of the test.
func dialAccept(t *testing.T, raw net.Listener, l *Listener) (client net.Conn, server *Conn) {
	t.Helper()
	cc, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return cc, Of(sc)
}

// TestListener_evictsOldestEvictable: at the cap, a new connection makes
// room by closing the evictable connection marked the longest ago; with
// none evictable, the newcomer is closed.
func TestListener_evictsOldestEvictable(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(raw, 3)
	defer l.Close()
	dial := func() (net.Conn, *Conn) { return dialAccept(t, raw, l) }
	c1, s1 := dial()
	c2, s2 := dial()
	c3, s3 := dial()
	s1.SetEvictable(false) // serving
	s3.SetEvictable(false)
	s3.SetEvictable(true) // idle again, after s2 became evictable
	_, s4 := dial()       // evicts s2, the oldest evictable
	if !closedByPeer(t, c2, 5*time.Second) || closedByPeer(t, c1, 50*time.Millisecond) || closedByPeer(t, c3, 50*time.Millisecond) {
		t.Fatal("the wrong connection was evicted")
	}
	if st := l.Stats(); st.Open != 3 || st.Evicted != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
	s2.Close() // closing an evicted connection again is harmless
	s4.SetEvictable(false)
	_, s5 := dial() // evicts s3
	if !closedByPeer(t, c3, 5*time.Second) {
		t.Fatal("s3 not evicted")
	}
	s5.SetEvictable(false)
	// Every place is held by a busy connection: a newcomer is refused,
	// and Accept waits for the next one.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	refused, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if !closedByPeer(t, refused, 5*time.Second) {
		t.Fatal("a connection beyond the cap, with none evictable, was kept")
	}
	if st := l.Stats(); st.Open != 3 || st.Evicted != 2 || st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
	s1.Close() // a place frees up
	next, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	c := <-accepted
	defer c.Close()
	if Of(c) == nil || l.Stats().Open != 3 {
		t.Fatalf("after a close: %+v", l.Stats())
	}
}

// TestConn_Release: a released connection no longer counts against the
// cap, is never evicted, and still closes.
func TestConn_Release(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(raw, 1)
	defer l.Close()
	dial := func() (net.Conn, *Conn) { return dialAccept(t, raw, l) }
	c1, s1 := dial() // evictable
	s1.Release()
	dial() // at the cap without s1: no eviction
	if closedByPeer(t, c1, 50*time.Millisecond) {
		t.Fatal("a released connection was evicted")
	}
	if st := l.Stats(); st.Open != 1 || st.Evicted != 0 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
	s1.Close()
	if !closedByPeer(t, c1, 5*time.Second) {
		t.Fatal("Close of a released connection did not close it")
	}
}
