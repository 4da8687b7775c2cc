package sqlnode

import "errors"

// Sentinel errors. Match them with errors.Is.
var (
	// ErrRejected reports a request that cannot be made deterministic, or
	// that uses something a replicated request may not use (transaction
	// control, ATTACH, PRAGMA, VACUUM). The wrapping error says what and why.
	ErrRejected = errors.New("sqlnode: request rejected")
	// ErrBadCommand reports a command that does not decode: wrong version,
	// truncated, oversized or trailing bytes.
	ErrBadCommand = errors.New("sqlnode: malformed command")
	// ErrTooLarge reports a request whose encoding exceeds MaxCommandSize.
	ErrTooLarge = errors.New("sqlnode: command too large")
	// ErrReadOnly reports a write attempted through Query or the
	// database/sql handle of ReadOnlyDB. Writes go through Execute (the
	// replicated log).
	ErrReadOnly = errors.New("sqlnode: read-only: send writes through Execute (they go through the replicated log)")
	// ErrClosed reports a call on a closed Node.
	ErrClosed = errors.New("sqlnode: node is closed")
	// ErrApply reports a failure to apply a log entry that is not an SQL
	// error of the request (I/O, a corrupt database). The node's state is
	// unchanged by the failed entry, which must be applied again.
	ErrApply = errors.New("sqlnode: apply failed")
)
