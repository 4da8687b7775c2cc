package localcluster

import (
	"context"
	"fmt"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
)

// Restart starts member id again after Kill, from its Raft state (its
// directory under Dir/raft, or its in-memory stores), at the same Raft
// address. It returns once the member's database is open and has applied
// the leader's commit index. With networked storage the member's
// stability endpoint moves to a new port that the cluster state does not
// know: restart members of in-process storage (StorageInProcess) only.
func (c *Cluster) Restart(ctx context.Context, id string) (*cluster.Node, error) {
	c.mu.Lock()
	m := c.mu.members[id]
	c.mu.Unlock()
	if m == nil || !m.dead {
		return nil, fmt.Errorf("localcluster: no killed member %q", id)
	}
	if c.opts.Storage != StorageInProcess {
		return nil, fmt.Errorf("localcluster: restart %q: only with in-process storage", id)
	}
	n, err := c.startMemberAs(id, m.stores, m.proxy.Addr())
	if err != nil {
		return nil, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return n, err
	}
	err = c.WaitFor(ctx, "restarted member ready", func() bool {
		st := n.Stats()
		return st.Ready && st.AppliedIndex >= leader.Raft().CommitIndex()
	})
	return n, err
}
