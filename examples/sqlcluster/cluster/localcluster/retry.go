package localcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// localAttempts bounds how often a Cluster's idempotent operations (AddNode's
// join, Compact) are tried across transient elections.
const localAttempts = 10

// retryEvery is the wait between two attempts, and between two writes a
// leader refused before the log (an election's scale: a fifth of how
// often a member whose apply failed reopens its database).
const retryEvery = 100 * time.Millisecond

// electionTransient reports whether err is what an election or a lapsed lease
// brings for a while (on a loaded machine, leadership and the writer move
// and a copier lease can lapse): the leader changed, the outcome of an
// entry in flight is unknown, a writer was fenced, a member is not ready
// until it resets or catches up. An idempotent operation may be tried
// again; anything else is returned as it is.
func electionTransient(err error) bool {
	return errors.Is(err, raftcluster.ErrNotLeader) || errors.Is(err, raftcluster.ErrOutcomeUnknown) ||
		errors.Is(err, raftcluster.ErrFenced) || errors.Is(err, cluster.ErrNotReady) || errors.Is(err, cluster.ErrLeaderUnreachable) ||
		errors.Is(err, stability.ErrLeaseExpired) || errors.Is(err, cow.ErrInvalidated)
}

// retryElection runs op until it succeeds, fails otherwise than
// transiently, localAttempts have failed, or ctx ends; it waits
// retryEvery between attempts (an election's scale).
func retryElection(ctx context.Context, what string, op func() error) error {
	var err error
	for i := range localAttempts {
		if err = op(); err == nil || !electionTransient(err) {
			return err
		}
		if i == localAttempts-1 {
			break
		}
		t := time.NewTimer(retryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("localcluster: %s: %w (then %w)", what, err, ctx.Err())
		case <-t.C:
		}
	}
	return fmt.Errorf("localcluster: %s: %d attempts: %w", what, localAttempts, err)
}
