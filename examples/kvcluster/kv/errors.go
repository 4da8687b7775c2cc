package kv

import "errors"

// Sentinel errors.
var (
	// ErrBadOp reports an Op that cannot be written: an empty or too long
	// key, an unknown kind, a delete with a value, an empty batch.
	ErrBadOp = errors.New("kv: invalid operation")
	// ErrBadCommand reports a log entry that is not a batch this package
	// encoded (a node applying it records the error instead).
	ErrBadCommand = errors.New("kv: invalid command in the log")
	// ErrClosed reports a read on an engine whose database is not
	// published (closed between role changes or for good, or reopening
	// after a failed apply), or on a writer view whose node is no longer
	// the writer.
	ErrClosed = errors.New("kv: engine closed")
	// ErrNotFound reports a Get of a key that is not there.
	ErrNotFound = errors.New("kv: key not found")
)
