package netstorage

import "errors"

// Sentinel errors. Match them with errors.Is; the errors returned wrap them
// with context ("netstorage: ...").
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("netstorage: invalid configuration")
	// ErrNoNode reports a Storage call before SetNode.
	ErrNoNode = errors.New("netstorage: no node attached (call SetNode)")
	// ErrClosed reports use of a closed Storage.
	ErrClosed = errors.New("netstorage: closed")
	// ErrNoWriter reports a join or reset while the cluster has no writer
	// to run the reset handshake with (the node calls again later).
	ErrNoWriter = errors.New("netstorage: no writer to join")
	// ErrStateMoved reports a Storage call for an epoch or writer that the
	// node's replicated state no longer names (the node calls again with
	// the new one).
	ErrStateMoved = errors.New("netstorage: cluster state moved on")
	// ErrDetached reports a round or reset sent to a copier view that has
	// since been promoted or replaced.
	ErrDetached = errors.New("netstorage: copier view detached")
)
