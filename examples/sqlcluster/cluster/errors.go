package cluster

import (
	"errors"

	"github.com/holeycow/holeycow/raftcluster/replica"
)

// Sentinel errors. Match them with errors.Is. Errors of the layers below
// pass through wrapped: raftcluster.ErrNotLeader (Execute or a
// linearizable read on a node that is not the leader; the error is a
// *raftcluster.NotLeaderError naming the leader), raftcluster.ErrOutcomeUnknown
// (a write that may or may not have committed), sqlnode.ErrRejected (SQL
// that cannot be made deterministic), sqlnode.ErrReadOnly (a write through
// the read-only *sql.DB).
var (
	// ErrClosed reports a call on a closed Node (replica.ErrClosed).
	ErrClosed = replica.ErrClosed
	// ErrNotReady reports that the node's database is not open or is
	// catching up (after a reset, a failover or a join), and the context
	// ended before it was ready; or a read that the node's copier view
	// refused because its stability lease lapsed (it wraps
	// cow.ErrInvalidated then): the copier resets by itself, and a read
	// retried later succeeds.
	// It is replica.ErrNotReady.
	ErrNotReady = replica.ErrNotReady
	// ErrPassed reports a ChecksumAt index that this node has already
	// applied past: the state at that index is gone.
	// It is replica.ErrPassed.
	ErrPassed = replica.ErrPassed
	// ErrBadLevel reports an unknown read consistency level.
	ErrBadLevel = errors.New("cluster: unknown consistency level")
	// ErrBadEntry reports a log entry that this package did not write.
	// It is replica.ErrBadEntry.
	ErrBadEntry = replica.ErrBadEntry
	// ErrNotCopier reports RequestReset on a node that is the writer (it
	// has no overlay to drop).
	ErrNotCopier = errors.New("cluster: only a copier can reset")
	// ErrLeaderUnreachable reports a weak read (or /readyz?sync) on a
	// follower whose request for the leader's commit index failed (an
	// election, a partition): nothing was read.
	ErrLeaderUnreachable = errors.New("cluster: the leader did not answer")
)
