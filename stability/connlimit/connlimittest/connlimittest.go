// Package connlimittest floods a listener with idle connections and checks
// that the server closes them, for the tests of the listeners that
// connlimit caps.
//
// The caller must pass a loopback address and a count the test's file
// descriptor limit allows.
package connlimittest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Flood opens n TCP connections to addr that send nothing, or with
// request, every other one a single HTTP request first (then nothing: an
// idle keep-alive connection). It runs during while they are open, then
// fails the test unless the server closes every one within within (reads
// until EOF, discarding what the server sends). It closes them all on
// return.
func Flood(t testing.TB, addr string, n int, request bool, within time.Duration, during func()) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if request && i%2 == 0 {
			fmt.Fprintf(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	during()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(within))
			_, err := io.Copy(io.Discard, c) // until the server closes
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("%s: flood connection %d still open after %v", addr, i, within)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%s: %d flood connections closed within %v", addr, n, time.Since(start))
}
