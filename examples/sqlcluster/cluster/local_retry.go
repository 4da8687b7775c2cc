package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// localAttempts bounds how often Local's idempotent operations (AddNode's
// join, Compact) are tried across transient elections.
const localAttempts = 10

// electionTransient reports whether err is what an election or a lapsed lease
// brings for a while (on a loaded machine, leadership and the writer move
// and a copier lease can lapse): the leader changed, the outcome of an
// entry in flight is unknown, a writer was fenced, a member is not ready
// until it resets or catches up. An idempotent operation may be tried
// again; anything else is returned as it is.
func electionTransient(err error) bool {
	return errors.Is(err, raftcluster.ErrNotLeader) || errors.Is(err, raftcluster.ErrOutcomeUnknown) ||
		errors.Is(err, raftcluster.ErrFenced) || errors.Is(err, ErrNotReady) || errors.Is(err, ErrLeaderUnreachable) ||
		errors.Is(err, stability.ErrLeaseExpired) || errors.Is(err, cow.ErrInvalidated)
}

// retryElection runs op until it succeeds, fails otherwise than
// transiently, localAttempts have failed, or ctx ends; it waits
// recoverEvery/5 between attempts (an election's scale).
func retryElection(ctx context.Context, what string, op func() error) error {
	var err error
	for i := range localAttempts {
		if err = op(); err == nil || !electionTransient(err) {
			return err
		}
		if i == localAttempts-1 {
			break
		}
		t := time.NewTimer(recoverEvery / 5)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster: %s: %w (then %w)", what, err, ctx.Err())
		case <-t.C:
		}
	}
	return fmt.Errorf("cluster: %s: %d attempts: %w", what, localAttempts, err)
}
