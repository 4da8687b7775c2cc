package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/stability/connlimit"
)

// Defaults of Limits and ConnLimits.
const (
	DefaultMaxResultRows  = 1_000_000
	DefaultMaxResultBytes = 64 << 20
	DefaultMaxStatements  = 10_000

	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConns          = 1024
)

// TimeoutHeader carries, on a forwarded request, how long the leader may
// take (a Go duration): less than the forwarding node waits, so that the
// leader's answer, which says which statements committed, arrives in time.
const TimeoutHeader = "X-Holeycow-Timeout"

// writeGrace is how long past its timeout a request with ?timeout may take
// to write its response.
const writeGrace = 30 * time.Second

// Limits bound the work of one request. Zero fields take the defaults; a
// negative field means no bound.
type Limits struct {
	// MaxResultRows and MaxResultBytes bound a read's result (all its
	// statements together; bytes as sqlnode.ResultLimits counts them): a
	// read beyond them fails with 400 and no rows. They bound the rows of
	// SELECT and RETURNING sent through /db/execute and /db/request too:
	// the node that accepts the write (the leader) puts its bounds in the
	// log entry, every node enforces those when it applies it, and a
	// request beyond them fails, rolled back, with an error Result saying
	// "result too large".
	MaxResultRows, MaxResultBytes int64
	// MaxStatements bounds the statements of one request (413 beyond).
	MaxStatements int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0 // sqlnode: no bound
		}
	}
	def(&l.MaxResultRows, DefaultMaxResultRows)
	def(&l.MaxResultBytes, DefaultMaxResultBytes)
	switch {
	case l.MaxStatements == 0:
		l.MaxStatements = DefaultMaxStatements
	case l.MaxStatements < 0:
		l.MaxStatements = 0
	}
	return l
}

// limitReads bounds the reads run under ctx.
func (s *Server) limitReads(ctx context.Context) context.Context {
	l := s.cfg.Limits
	return sqlnode.WithResultLimits(ctx, sqlnode.ResultLimits{MaxRows: l.MaxResultRows, MaxBytes: l.MaxResultBytes})
}

// writeRequest returns the request of stmts for the log, carrying this
// server's result limits: every node enforces them when it applies the
// request (rows of SELECT and RETURNING), whatever its own configuration,
// so that whether a statement fails is the same everywhere.
func (s *Server) writeRequest(stmts []sqlnode.Statement) sqlnode.Request {
	bound := func(v int64) int64 {
		if v <= 0 {
			return -1 // sqlnode: no bound
		}
		return v
	}
	l := s.cfg.Limits
	return sqlnode.Request{Statements: stmts, Limits: sqlnode.ResultLimits{MaxRows: bound(l.MaxResultRows), MaxBytes: bound(l.MaxResultBytes)}}
}

// checkStatements refuses a request with more statements than allowed.
func (s *Server) checkStatements(n int) error {
	if max := s.cfg.Limits.MaxStatements; max > 0 && n > max {
		return fmt.Errorf("%w: %d statements, more than the %d allowed in one request: split it, or send it with ?transaction as one log entry", sqlnode.ErrTooLarge, n, max)
	}
	return nil
}

// forwardTimeout returns the time a forwarding node gives the leader out
// of d, the time it waits itself: a tenth less, between 50ms and 2s, left
// for the answer to travel back.
func forwardTimeout(d time.Duration) time.Duration {
	return d - min(max(d/10, 50*time.Millisecond), 2*time.Second, d/2)
}

// headerTimeout returns the TimeoutHeader of r, 0 if absent or malformed.
func headerTimeout(r *http.Request) time.Duration {
	v := r.Header.Get(TimeoutHeader)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}

// extendWrite lets a request whose ?timeout exceeds the server's write
// timeout write its response: up to writeGrace after that timeout.
func extendWrite(w http.ResponseWriter, o options) {
	if o.timeout > 0 {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(o.timeout + writeGrace))
	}
}

// stopEarly reports whether the statement after done ones, which took
// elapsed, should not start: the time left before ctx's deadline is less
// than twice the mean statement time plus 100ms to answer.
func stopEarly(ctx context.Context, done int, elapsed time.Duration) bool {
	dl, ok := ctx.Deadline()
	if !ok || done == 0 {
		return false
	}
	mean := elapsed / time.Duration(done)
	return time.Until(dl) < 2*mean+100*time.Millisecond
}

// notCommitted reports whether an Execute error says the request was not
// appended to the log (so it did not commit); any other error leaves its
// outcome unknown.
func notCommitted(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrBadRequest) ||
		errors.Is(err, sqlnode.ErrRejected) || errors.Is(err, sqlnode.ErrTooLarge)
}

// ConnLimits bound the connections of the HTTP server: its timeouts and
// how many connections it keeps open. Zero fields take the defaults; a
// negative field means no bound.
type ConnLimits struct {
	// ReadHeaderTimeout bounds reading a request's header (and the TLS
	// handshake); ReadTimeout the whole request, body included.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds serving a request and writing its response; a
	// request with ?timeout gets that timeout plus 30s instead.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout time.Duration
	// MaxConns caps open connections. At the cap, a new connection
	// closes the one idle the longest (or waiting longest for its first
	// request); if every connection is serving a request, the new one is
	// closed.
	MaxConns int
}

// ApplyConnLimits sets hs's timeouts from l and returns ln capped at
// l.MaxConns; serve hs on the returned listener. It chains hs.ConnState.
func ApplyConnLimits(hs *http.Server, ln net.Listener, l ConnLimits) net.Listener {
	dur := func(v, d time.Duration) time.Duration {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	hs.ReadHeaderTimeout = dur(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	hs.ReadTimeout = dur(l.ReadTimeout, DefaultReadTimeout)
	hs.WriteTimeout = dur(l.WriteTimeout, DefaultWriteTimeout)
	hs.IdleTimeout = dur(l.IdleTimeout, DefaultIdleTimeout)
	if hs.IdleTimeout == 0 && hs.ReadTimeout == 0 {
		// net/http would keep idle connections forever.
		hs.SetKeepAlivesEnabled(false)
	}
	max := l.MaxConns
	switch {
	case max == 0:
		max = DefaultMaxConns
	case max < 0:
		max = 0
	}
	prev := hs.ConnState
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		if cc := connlimit.Of(c); cc != nil {
			switch st {
			case http.StateActive:
				cc.SetEvictable(false)
			case http.StateIdle:
				cc.SetEvictable(true)
			}
		}
		if prev != nil {
			prev(c, st)
		}
	}
	return connlimit.New(ln, max)
}

// formatTimeout formats d for TimeoutHeader.
func formatTimeout(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }
