package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/raftcluster"
)

// When a follower forwards a weak read to the leader rather than serve it
// (see waitWeak).
const (
	// WeakReadMaxLag: a follower that has applied more than this many
	// entries fewer than the leader's commit index forwards at once.
	WeakReadMaxLag = 1000
	// WeakReadMaxWait: a follower that has not applied the leader's
	// commit index within this time forwards then.
	WeakReadMaxWait = 100 * time.Millisecond
)

// waitWeak waits until a weak read may run here: until this node has
// applied the leader's commit index, learned with one small request to the
// leader (on the leader, its own). A follower that cannot serve the read
// soon, asked through the HTTP API where it can forward the read
// (httpapi.CanForward), returns a *raftcluster.NotLeaderError instead,
// which makes the API forward the read to the leader (cheaper than
// waiting):
//
//   - at once, if its database is not ready (a copier resetting, catching
//     up or reopening; it would wait for that first);
//   - at once, if it is more than WeakReadMaxLag entries behind the
//     leader's commit index;
//   - after WeakReadMaxWait, if it has not applied the commit index by
//     then (a slow or paused apply).
//
// The leader always serves (it waits for its own apply), and so does a
// follower whose caller cannot forward (it waits as long as ctx lets it).
// A copier in refresh mode that serves the read brings its database up to
// the commit index first (freshen), as for a linearizable read.
func (n *Node) waitWeak(ctx context.Context) error {
	serveHere := n.raft.IsLeader() || !httpapi.CanForward(ctx)
	if !serveHere && !n.eng.ready() {
		return n.forwardWeak("this node's database is not ready (a copier resetting or catching up)")
	}
	idx, err := n.leaderCommitIndex(ctx)
	if err != nil {
		return err
	}
	applied := n.raft.AppliedIndex()
	switch {
	case serveHere || applied >= idx:
		if err := n.raft.WaitApplied(ctx, idx); err != nil {
			return err
		}
		return n.freshen(ctx, idx) // refresh mode: the database may be older
	case idx-applied > WeakReadMaxLag:
		return n.forwardWeak(fmt.Sprintf("this node applied %d, %d entries behind the leader's commit index %d", applied, idx-applied, idx))
	}
	wctx, cancel := context.WithTimeout(ctx, WeakReadMaxWait)
	defer cancel()
	err = n.raft.WaitApplied(wctx, idx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return n.forwardWeak(fmt.Sprintf("this node did not apply the leader's commit index %d within %v (applied %d)", idx, WeakReadMaxWait, n.raft.AppliedIndex()))
	}
	if err != nil {
		return err
	}
	return n.freshen(ctx, idx)
}

// forwardWeak returns the error that sends a weak read to the leader.
func (n *Node) forwardWeak(why string) error {
	id, addr := n.raft.Leader()
	return &raftcluster.NotLeaderError{Op: "weak read (" + why + "; the leader serves it)", LeaderID: id, LeaderAddr: addr}
}
