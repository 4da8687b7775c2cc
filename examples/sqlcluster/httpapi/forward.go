package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

type forwardKey struct{}

// CanForward reports whether the request that ctx (a Backend call's
// context) belongs to would reach the leader if the Backend returned a
// *NotLeaderError: the Server forwards it, or redirects it with
// ?redirect. A Backend may then answer *NotLeaderError to hand the leader
// a request that it could serve itself only later (a lagging follower's
// weak read). Where it cannot (DisableForwarding, a request forwarded
// already, a Backend called outside a Server), the Backend should serve
// the request itself.
func CanForward(ctx context.Context) bool {
	v, _ := ctx.Value(forwardKey{}).(bool)
	return v
}

// backendError answers a request whose Backend call failed: a
// *NotLeaderError is forwarded to the leader (or redirected, or refused,
// see forward), any other error gets its status.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, o options, body []byte, err error) {
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		s.forward(w, r, o, body, nl)
		return
	}
	s.fail(w, err, o.pretty)
}

// memberError is backendError for /join and /remove: a request that a
// member's certificate authorized (not an operator) is not forwarded, as
// the leader would see this node's certificate instead of the member's;
// it gets 503 with the leader's URL, where the member asks again.
func (s *Server) memberError(w http.ResponseWriter, r *http.Request, o options, body []byte, err error) {
	var nl *NotLeaderError
	if errors.As(err, &nl) && !grantOf(r).operator {
		s.fail(w, nl, o.pretty)
		return
	}
	s.backendError(w, r, o, body, err)
}

// forward sends r, whose body was body, to the leader and copies back the
// leader's answer. rqlite forwards too (clients such as gorqlite send to
// any node); with ?redirect the client gets rqlite's 301 to the leader
// instead. A request that was forwarded already, a leader that is unknown
// or has no valid URL, and DisableForwarding all get 503 with the leader's
// URL in the body's "leader" field.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, o options, body []byte, nl *NotLeaderError) {
	target, err := url.Parse(nl.LeaderHTTP)
	if nl.LeaderHTTP == "" || err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		s.fail(w, &NotLeaderError{LeaderHTTP: nl.LeaderHTTP}, o.pretty)
		return
	}
	if o.redirect {
		loc := *target
		loc.Path = singleJoin(target.Path, r.URL.Path)
		loc.RawQuery = r.URL.RawQuery
		w.Header().Set("Location", loc.String())
		writeJSON(w, http.StatusMovedPermanently, errorBody{Error: nl.Error(), Leader: nl.LeaderHTTP}, o.pretty)
		return
	}
	if s.cfg.DisableForwarding || r.Header.Get(ForwardedHeader) != "" {
		s.fail(w, nl, o.pretty)
		return
	}
	if rec, ok := w.(*recorder); ok {
		rec.forwarded = true
	}
	dctx, dcancel := s.context(r, o)
	defer dcancel()
	var leaderTimeout time.Duration
	dl, hasDeadline := dctx.Deadline()
	if hasDeadline {
		leaderTimeout = forwardTimeout(time.Until(dl))
	}
	// The deadline bounds waiting for the leader's answer, not copying
	// it: once the leader's response has begun, cutting it at the
	// deadline would leave the client a truncated body (unexpected EOF)
	// instead of the results the leader stopped early to send in time.
	// The copy is bounded by the server's write deadline.
	ctx, cancel := context.WithCancel(context.WithoutCancel(dctx))
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel) // the client left
	defer stop()
	var fw forwardState
	if hasDeadline {
		timer := time.AfterFunc(time.Until(dl), func() {
			if fw.state.CompareAndSwap(0, forwardTimedOut) {
				cancel()
			}
		})
		defer timer.Stop()
	}
	out := r.Clone(ctx)
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, "1")
			if leaderTimeout > 0 {
				pr.Out.Header.Set(TimeoutHeader, formatTimeout(leaderTimeout))
			}
		},
		Transport: s.cfg.Transport,
		// This node's version header stays the only one.
		ModifyResponse: func(resp *http.Response) error {
			if !fw.state.CompareAndSwap(0, forwardAnswered) {
				return errForwardTimedOut
			}
			resp.Header.Del(VersionHeader)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Warn("httpapi: forwarding to the leader failed", "leader", nl.LeaderHTTP, "err", err)
			if fw.state.Load() == forwardTimedOut || errors.Is(err, context.DeadlineExceeded) {
				// The leader got the request and did not answer in time:
				// what it did is not known here.
				writeJSON(w, http.StatusGatewayTimeout, errorBody{Error: "httpapi: the leader did not answer within the timeout; " +
					"writes may have committed: read before sending them again", Leader: nl.LeaderHTTP}, o.pretty)
				return
			}
			writeJSON(w, http.StatusServiceUnavailable,
				errorBody{Error: "httpapi: forwarding to the leader failed: " + err.Error(), Leader: nl.LeaderHTTP}, o.pretty)
		},
	}
	proxy.ServeHTTP(w, out)
}

// forwardState is what came first in forwarding a request: the leader's
// answer (forwardAnswered) or the request's deadline (forwardTimedOut).
type forwardState struct{ state atomic.Int32 }

const (
	forwardAnswered = 1 + iota
	forwardTimedOut
)

var errForwardTimedOut = errors.New("httpapi: the request's timeout passed before the leader answered")

// singleJoin joins URL paths with one slash between them.
func singleJoin(a, b string) string {
	switch {
	case a == "" || a == "/":
		return b
	case a[len(a)-1] == '/' && len(b) > 0 && b[0] == '/':
		return a + b[1:]
	case a[len(a)-1] != '/' && (len(b) == 0 || b[0] != '/'):
		return a + "/" + b
	}
	return a + b
}
