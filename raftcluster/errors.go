package raftcluster

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrNotLeader reports an operation that must run on the Raft leader.
	// The concrete error is a *NotLeaderError naming the leader if known.
	ErrNotLeader = errors.New("raftcluster: not the leader")
	// ErrOutcomeUnknown reports a command that was handed to Raft but whose
	// fate is unknown: it may or may not commit later (deadline passed,
	// leadership lost while the entry was in flight). Callers must not
	// assume either outcome; read the state back to find out.
	ErrOutcomeUnknown = errors.New("raftcluster: outcome unknown")
	// ErrShutdown reports an operation on a node that has been shut down.
	ErrShutdown = errors.New("raftcluster: node is shut down")
	// ErrBadCommand reports an encoded command that cannot be decoded
	// (unknown version or kind, truncated, oversized or trailing bytes).
	ErrBadCommand = errors.New("raftcluster: bad command")
	// ErrUnknownMember reports a command naming a member that the cluster
	// state does not hold.
	ErrUnknownMember = errors.New("raftcluster: unknown member")
	// ErrExcluded reports a member that was excluded and has not reset and
	// rejoined since.
	ErrExcluded = errors.New("raftcluster: member is excluded")
	// ErrFenced reports that this node may not mutate shared storage: it
	// is not the writer of the newest epoch, or its lease has lapsed.
	ErrFenced = errors.New("raftcluster: fenced")
	// ErrRejected reports a control command that the cluster state refused
	// (for example a SetWriter whose epoch is not the next one).
	ErrRejected = errors.New("raftcluster: command rejected")
	// ErrCompacted reports a log entry that ReadLog needs but that was
	// compacted away (see Config.CompactableIndex).
	ErrCompacted = errors.New("raftcluster: log entry compacted")
	// ErrIdentity reports a peer whose certificate does not name the
	// member it acts as: a Raft or forwarded connection from a
	// certificate that names no node (stability.NodeURI), a membership
	// request for another member than the caller's certificate names, or
	// a member answering at an address with another member's certificate.
	ErrIdentity = errors.New("raftcluster: identity refused")
	// ErrInvalidConfig reports a Config that cannot be used.
	ErrInvalidConfig = errors.New("raftcluster: invalid config")
	// ErrLogStoreMismatch reports a DataDir whose Raft log is kept by
	// another log store kind than Config.LogStore names.
	ErrLogStoreMismatch = errors.New("raftcluster: data dir holds a log of another log store kind")
)

// NotLeaderError is returned by operations that must run on the leader. It
// wraps ErrNotLeader. LeaderID and LeaderAddr are empty when no leader is
// known (an election is in progress or this node is cut off).
type NotLeaderError struct {
	Op         string
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return fmt.Sprintf("raftcluster: %s: not the leader (leader unknown)", e.Op)
	}
	return fmt.Sprintf("raftcluster: %s: not the leader (leader %s at %s)", e.Op, e.LeaderID, e.LeaderAddr)
}

// Unwrap lets errors.Is match ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// OpError is the error type of Node methods other than NotLeaderError: Op
// names the method, Err wraps a sentinel (and possibly the underlying Raft
// error).
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return "raftcluster: " + e.Op + ": " + trimPrefix(e.Err.Error()) }

// Unwrap returns the wrapped error.
func (e *OpError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	const p = "raftcluster: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return err
	}
	return &OpError{Op: op, Err: err}
}
