package replica

import "errors"

// Sentinel errors. Match them with errors.Is.
var (
	// ErrClosed reports a call on a Replica that was shut down.
	ErrClosed = errors.New("replica: closed")
	// ErrNotReady reports that the database is not published (not open,
	// catching up, or reopening after a failed apply) and the context
	// ended first; or a read that a copier view refused because its
	// stability lease lapsed (it wraps cow.ErrInvalidated then).
	ErrNotReady = errors.New("replica: database not ready")
	// ErrPassed reports a request for the state at an index that the
	// replica has already applied past: that state is gone.
	ErrPassed = errors.New("replica: applied index already past the requested one")
	// ErrBadEntry reports a log entry that does not carry the replica's
	// framing (EncodeCommand, EncodeDurable).
	ErrBadEntry = errors.New("replica: malformed log entry")
	// ErrEngine wraps an engine's failure to open, apply or sync, and a
	// database whose stored index went backwards.
	ErrEngine = errors.New("replica: engine failed")
)
