package localcluster

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// nopEngine holds nothing: the test reads the views.
type nopEngine struct{}

func (nopEngine) Close() error                       { return nil }
func (nopEngine) Open(context.Context, vfs.FS) error { return nil }

// fixedNode is a node whose state is fixed: st's writer leads and passes
// its Guard.
type fixedNode struct {
	id string
	st raftcluster.State
}

func (n fixedNode) State() raftcluster.State { return n.st }
func (n fixedNode) IsLeader() bool           { return n.st.Writer == n.id }
func (n fixedNode) Exclude(context.Context, string) error {
	return errors.New("test: no exclusions")
}

func (n fixedNode) Guard() func(context.Context) error {
	return func(context.Context) error {
		if n.st.Writer != n.id {
			return fmt.Errorf("%w: %s", raftcluster.ErrFenced, n.id)
		}
		return nil
	}
}

// The members of an in-process cluster (here made by two InProcess
// StorageFuncs, as a restarted Cluster makes them) share InProcessOptions.Network:
// the copier joins the writer over it, and the writer preserves for it,
// so its overwrite stays invisible to the copier (invariants 1 and 2).
// Each member's stability address is its ID on the network. The role
// changes themselves are netstorage's and tested there.
func TestInProcess_membersShareNetwork(t *testing.T) {
	ctx := context.Background()
	shared := vfs.NewMem()
	require.NoError(t, vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644))
	o := InProcessOptions{Network: stabilitytest.NewNetwork(1)}
	st := raftcluster.State{Writer: "w", Epoch: 1, Generation: 1, Members: []raftcluster.Member{
		{ID: "c", Suffrage: raftcluster.Voter, Role: raftcluster.RoleCopier, Generation: 1, JoinIndex: 2},
		{ID: "w", Suffrage: raftcluster.Voter, Role: raftcluster.RoleWriter, Generation: 1, JoinIndex: 1},
	}, History: []raftcluster.WriterTerm{{Epoch: 1, ID: "w", Index: 1}}}
	sts := map[string]cluster.Storage{}
	for _, id := range []string{"w", "c"} {
		s, err := InProcess(shared, o)(id, nopEngine{})
		require.NoError(t, err)
		require.Equal(t, id, s.StabilityAddr())
		s.(interface{ SetNode(netstorage.Node) }).SetNode(fixedNode{id, st})
		sts[id] = s
	}
	w, c := sts["w"], sts["c"]
	t.Cleanup(func() {
		require.NoError(t, errors.Join(w.Check(), c.Check(), c.Close(), w.Close()))
	})
	require.NoError(t, w.BecomeWriter(ctx, 1))
	require.NoError(t, c.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w", StabilityAddr: w.StabilityAddr()}))
	views := map[string]*cow.View{}
	for id, s := range sts {
		v, ok := s.(interface{ View() *cow.View })
		require.True(t, ok && v.View() != nil, "%s: no view", id)
		views[id] = v.View()
	}
	require.NoError(t, vfs.WriteFile(views["w"], "log.txt", []byte("new!"), 0o644))
	for id, want := range map[string]string{"w": "new!", "c": "old!"} {
		b, err := vfs.ReadFile(views[id], "log.txt")
		require.NoError(t, err)
		require.Equal(t, want, string(b), id)
	}
}
