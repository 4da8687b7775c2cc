package httpapi

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends return them (or errors wrapping them) to choose
// the HTTP status; match them with errors.Is.
var (
	// ErrNotLeader reports that this node cannot serve the request because
	// it is not the leader. Backends return a *NotLeaderError, which
	// matches it and says where the leader is.
	ErrNotLeader = errors.New("httpapi: not the leader")
	// ErrUnavailable reports that the node cannot serve the request now (no
	// leader, shutting down, lease lapsed): 503 Service Unavailable.
	ErrUnavailable = errors.New("httpapi: unavailable")
	// ErrNotFound reports an unknown node ID given to Remove: 404.
	ErrNotFound = errors.New("httpapi: not found")
	// ErrBadRequest reports a request that cannot be served as sent: 400.
	// The request decoder wraps it, and a Backend may too.
	ErrBadRequest = errors.New("httpapi: bad request")
	// ErrForbidden reports a request that the client's credentials do not
	// allow, such as a member's certificate joining or removing another
	// member: 403.
	ErrForbidden = errors.New("httpapi: forbidden")
	// ErrOutcomeUnknown reports a write whose fate is unknown: it may or
	// may not have committed (leadership was lost while it was in flight,
	// a deadline passed after it entered the log). 500, as any error that
	// is not a refusal, but with its text (paths removed) rather than
	// "internal error": the client must read back before retrying.
	ErrOutcomeUnknown = errors.New("httpapi: outcome unknown (the write may have committed; read back before retrying)")
	// ErrStale reports a read refused by its freshness bound (rqlite's
	// "stale read"): 503, as it wraps ErrUnavailable; another node, or a
	// higher level, may serve it.
	ErrStale = fmt.Errorf("%w: stale read", ErrUnavailable)
)

// NotLeaderError is the error a Backend returns when a request must be
// served by the leader and this node is not the leader. The Server then
// forwards the request to LeaderHTTP (see the package documentation).
type NotLeaderError struct {
	// LeaderHTTP is the leader's HTTP API base URL, such as
	// "http://10.0.0.1:4001"; "" when no leader is known.
	LeaderHTTP string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderHTTP == "" {
		return "httpapi: not the leader, and no leader is known"
	}
	return fmt.Sprintf("httpapi: not the leader; the leader is at %s", e.LeaderHTTP)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// badRequest returns an error wrapping ErrBadRequest.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}
