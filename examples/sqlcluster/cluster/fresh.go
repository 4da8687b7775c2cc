package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/raftcluster"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
)

// checkFresh refuses a level-none read with an error wrapping
// httpapi.ErrStale when f bounds it and this node, not the leader, last
// heard from the leader more than f.Max ago; with f.Strict, also when it
// has not applied the commit index it then learned. The leader is always
// fresh.
func (n *Node) checkFresh(f httpapi.Freshness) error {
	if f.Max <= 0 || n.raft.IsLeader() {
		return nil
	}
	last := n.raft.LastContact()
	if last.IsZero() {
		return fmt.Errorf("%w: this node has not heard from a leader", httpapi.ErrStale)
	}
	if age := time.Since(last); age > f.Max {
		return fmt.Errorf("%w: last heard from the leader %v ago, over freshness %v", httpapi.ErrStale, age.Round(time.Millisecond), f.Max)
	}
	if f.Strict {
		if applied, commit := n.raft.AppliedIndex(), n.raft.CommitIndex(); applied < commit {
			return fmt.Errorf("%w: applied index %d behind the commit index %d learned from the leader (freshness_strict)", httpapi.ErrStale, applied, commit)
		}
	}
	return nil
}

// leaderCommitIndex asks the leader for its commit index (weak reads):
// a *raftcluster.NotLeaderError passes as it is (the read is forwarded to
// the leader), a context error too; any other failure wraps
// ErrLeaderUnreachable.
func (n *Node) leaderCommitIndex(ctx context.Context) (uint64, error) {
	idx, err := n.raft.LeaderCommitIndex(ctx)
	var nl *raftcluster.NotLeaderError
	if err == nil || errors.As(err, &nl) || ctx.Err() != nil {
		return idx, err
	}
	return 0, fmt.Errorf("%w: %w", ErrLeaderUnreachable, err)
}
