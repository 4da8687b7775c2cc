package raftcluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Transport carries Raft's RPCs between members and the few control
// requests that a follower forwards to the leader (join, leave, overlay
// reports, reset done, rejoin, membership checks). Its implementations
// are *TLSTransport (production: TCP with mutual TLS 1.3, every peer
// authenticated as the member its certificate names) and, for tests, the
// transports of clustertest.RaftNetwork (in process, no authentication).
//
// The interface is sealed: only this package implements it.
type Transport interface {
	// Addr returns the address other members reach this node at.
	Addr() string
	// Close releases the transport. Node.Shutdown calls it.
	Close() error

	raftTransport() raft.Transport
	// stopRaft makes the Raft RPCs this node sends fail at once, those in
	// flight and those to come (dials included), so that Raft's goroutines
	// end without waiting for a silent peer's RPC timeout. Node.Shutdown
	// calls it after raft.Shutdown, before it waits for Raft to stop; the
	// transport still accepts connections until Close.
	stopRaft()
	forward(ctx context.Context, addr string, req []byte) ([]byte, error)
	// serve installs the handler of forwarded requests, and memberAt,
	// which names the member expected at a Raft address ("" if none):
	// an authenticating transport refuses a Raft connection to an
	// address whose peer's certificate names another member.
	serve(h forwardHandler, memberAt func(addr string) string)
	// peerGone reports whether nothing listens at a member's Raft address
	// any more (its process is gone): a refused connection, not a slow or
	// silent one.
	peerGone(ctx context.Context, addr string) bool
}

// forwardHandler serves a forwarded request. caller is the member ID that
// the caller's certificate names; "" on a transport that does not
// authenticate (the in-process one), where no identity check applies.
type forwardHandler func(ctx context.Context, caller string, req []byte) ([]byte, error)

// Forwarded replies: a status byte, then a payload.
const (
	replyOK        = 0 // payload: none
	replyNotLeader = 1 // payload: leader ID, leader address (uvarint-prefixed strings)
	replyError     = 2 // payload: error code byte, message
)

// Error codes in replyError, so that sentinels survive the hop.
const (
	codeOther byte = iota
	codeRejected
	codeUnknownMember
	codeOutcomeUnknown
	codeBadCommand
	codeExcluded
	codeShutdown
	codeIdentity
)

var codeSentinels = map[byte]error{
	codeRejected:       ErrRejected,
	codeUnknownMember:  ErrUnknownMember,
	codeOutcomeUnknown: ErrOutcomeUnknown,
	codeBadCommand:     ErrBadCommand,
	codeExcluded:       ErrExcluded,
	codeShutdown:       ErrShutdown,
	codeIdentity:       ErrIdentity,
}

func encodeReply(err error) []byte {
	if err == nil {
		return []byte{replyOK}
	}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		b := []byte{replyNotLeader}
		b = binary.AppendUvarint(b, uint64(len(nl.LeaderID)))
		b = append(b, nl.LeaderID...)
		b = binary.AppendUvarint(b, uint64(len(nl.LeaderAddr)))
		return append(b, nl.LeaderAddr...)
	}
	code := codeOther
	for c, s := range codeSentinels {
		if errors.Is(err, s) {
			code = c
			break
		}
	}
	return append([]byte{replyError, code}, trimPrefix(err.Error())...)
}

// remoteError is an error reported by the leader for a forwarded request.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return "raftcluster: leader: " + e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func decodeReply(op string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty reply", ErrBadCommand)
	}
	switch b[0] {
	case replyOK:
		return nil
	case replyNotLeader:
		d := decoder{b: b[1:]}
		id, addr := d.str(), d.str()
		if d.err != nil {
			return d.err
		}
		return &NotLeaderError{Op: op, LeaderID: id, LeaderAddr: addr}
	case replyError:
		if len(b) < 2 {
			return fmt.Errorf("%w: short error reply", ErrBadCommand)
		}
		return &remoteError{msg: string(b[2:]), sentinel: codeSentinels[b[1]]}
	}
	return fmt.Errorf("%w: reply status %d", ErrBadCommand, b[0])
}
