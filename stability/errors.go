package stability

import (
	"errors"

	"github.com/holeycow/holeycow/stability/internal/wire"
)

// Sentinel errors. Match them with errors.Is; the errors returned wrap them
// with context ("stability: ...").
var (
	// ErrStaleEpoch reports a message from a writer whose epoch is older than
	// the newest epoch the receiver has seen. A writer that gets it has been
	// deposed: its Stabilize calls fail with it from then on.
	ErrStaleEpoch = errors.New("stability: stale epoch")
	// ErrLeaseExpired is the cause a Responder gives its copier view when
	// the copier's lease lapses: the copier may have missed a round, so its
	// reads are refused until it resets.
	ErrLeaseExpired = errors.New("stability: copier lease expired")
	// ErrNotJoined is the cause a Responder gives its copier view until the
	// copier has joined (completed a reset handshake with the writer), and
	// the answer a copier gives to rounds until then.
	ErrNotJoined = errors.New("stability: copier has not joined")
	// ErrNotMember reports a reset request from a node that is not in the
	// writer's current copier membership.
	ErrNotMember = errors.New("stability: not a member")
	// ErrNotServing reports a request to a node that has no handler for it
	// (not a copier, or not the writer).
	ErrNotServing = errors.New("stability: not serving this role")
	// ErrClosed reports use of a closed Coordinator, Responder or transport.
	ErrClosed = errors.New("stability: closed")
	// ErrMalformed reports a message that does not decode.
	ErrMalformed = wire.ErrMalformed
	// ErrTooLarge reports a message over the wire limit (4 MiB).
	ErrTooLarge = wire.ErrTooLarge
	// ErrIdentity reports a peer whose authenticated identity is not the one
	// expected, or that claims to be someone else.
	ErrIdentity = errors.New("stability: wrong peer identity")
	// ErrUnreachable reports a peer that the transport cannot reach (the
	// in-process transport returns it for partitions and lost messages).
	ErrUnreachable = errors.New("stability: peer unreachable")
	// ErrResetFailed reports a reset handshake that did not complete.
	ErrResetFailed = errors.New("stability: reset handshake failed")
	// ErrConfig reports an invalid configuration.
	ErrConfig = errors.New("stability: invalid configuration")
)
