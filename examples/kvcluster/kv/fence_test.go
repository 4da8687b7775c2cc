package kv_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// TestEngine_fencedCommit: a deposed writer's view refuses Pebble's WAL
// write (raftcluster.ErrFenced through the cow guard), which Pebble reports
// as fatal. The engine must not crash the process nor record a divergence:
// it queues the entry, closes cleanly, and the next Open applies it.
func TestEngine_fencedCommit(t *testing.T) {
	ctx := context.Background()
	v, err := cow.NewWriter(vfs.NewMem(), cow.NewDirect(), cow.Options{})
	require.NoError(t, err)
	var fenced atomic.Bool
	v.SetGuard(func(context.Context) error {
		if fenced.Load() {
			return raftcluster.ErrFenced
		}
		return nil
	})
	e := kv.NewEngine(func() *raftcluster.Node { return nil })
	require.NoError(t, e.Open(ctx, v))
	put := func(k, val string) []byte {
		b, err := kv.Encode([]kv.Op{kv.Put([]byte(k), []byte(val))})
		require.NoError(t, err)
		return b
	}
	require.Nil(t, e.Apply(1, put("a", "1")))
	fenced.Store(true)
	require.Nil(t, e.Apply(2, put("b", "2")), "a fenced commit is no apply failure")
	require.Nil(t, e.Apply(3, put("c", "3")), "entries after it queue")
	require.NoError(t, e.Check(), "a fenced engine has not diverged")
	require.Equal(t, uint64(1), e.Applied())
	require.NoError(t, e.Close())

	fenced.Store(false)
	require.NoError(t, e.Open(ctx, v))
	defer e.Close()
	require.Equal(t, uint64(3), e.Applied())
	for k, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		got, err := e.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, want, string(got), k)
	}
	require.NoError(t, e.Check())
}
