package localcluster

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/stability"
)

// The proxy counts every byte both ways, and those of connections that
// start with stability.MuxPreamble (the stability protocol) apart too,
// so that a figure can say how much of a join is stability traffic.
func TestCountingProxy_stabilityBytes(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	var all, stab atomic.Int64
	p, err := newCountingProxyAt("", &all, &stab)
	require.NoError(t, err)
	defer p.Close()
	p.start(echo.Addr().String())

	roundTrip := func(msg []byte) {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		require.NoError(t, err)
		_, err = c.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		require.NoError(t, c.Close())
	}
	other := []byte("\x16 a TLS record, say")
	// The proxy counts a write once it returns, maybe after the client
	// read it: wait for the counts (a deadline loop, not a sleep).
	counted := func(wantAll, wantStab int) {
		t.Helper()
		require.Eventually(t, func() bool {
			return all.Load() == int64(wantAll) && stab.Load() == int64(wantStab) && p.own.Load() == int64(wantAll)
		}, 10*time.Second, time.Millisecond, "all %d stab %d own %d", all.Load(), stab.Load(), p.own.Load())
	}
	roundTrip(other)
	counted(2*len(other), 0)
	stabMsg := append([]byte{stability.MuxPreamble}, "then TLS"...)
	roundTrip(stabMsg)
	counted(2*(len(other)+len(stabMsg)), 2*len(stabMsg))
}
