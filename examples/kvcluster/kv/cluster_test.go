package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster"
)

// TestCluster_failover writes to a 3-node cluster (puts, deletes and
// batches), kills the writer, writes through the new one, and checks that
// no acknowledged write is lost and that every live node holds the same
// data, with Pebble's level checks passing on each.
func TestCluster_failover(t *testing.T) {
	ctx, c := startCluster(t, kv.Options{Nodes: 3})
	want := map[string]string{}
	var (
		last uint64
		err  error
	)
	write := func(round, n int) {
		for i := range n {
			k := fmt.Sprintf("k%03d", (round*37+i)%150)
			var ops []kv.Op
			switch i % 5 {
			case 3:
				ops = []kv.Op{kv.Delete([]byte(k))}
				delete(want, k)
			case 4:
				k2 := fmt.Sprintf("b%d-%d", round, i)
				ops = []kv.Op{kv.Put([]byte(k), []byte("x"+k2)), kv.Put([]byte(k2), []byte(k))}
				want[k], want[k2] = "x"+k2, k
			default:
				v := fmt.Sprintf("v%d-%d", round, i)
				ops = []kv.Op{kv.Put([]byte(k), []byte(v))}
				want[k] = v
			}
			idx, err := c.Write(ctx, ops...)
			for try := 0; errors.Is(err, raftcluster.ErrOutcomeUnknown) && try < 10; try++ {
				// Leadership lost mid-commit (a loaded machine): the
				// batch sets absolute values and this is the only
				// client, so applying it again is what applying it once
				// does.
				t.Logf("write %s: %v; again", k, err)
				idx, err = c.Write(ctx, ops...)
			}
			require.NoError(t, err)
			last = idx
		}
	}
	agree := func(stage string) {
		t.Helper()
		kv.RequireAgree(t, ctx, c, want, last, stage)
	}

	write(0, 200)
	agree("before failover")
	w := c.Writer(ctx)
	require.NotNil(t, w)
	require.Equal(t, cow.RoleWriter, w.Storage.View().Role())
	require.NoError(t, c.Kill(w.ID))
	write(1, 100)
	nw := c.Writer(ctx)
	require.NotNil(t, nw)
	require.NotEqual(t, w.ID, nw.ID)
	agree("after failover")

	v, err := nw.Engine.Get([]byte("k001"))
	if want["k001"] == "" {
		require.ErrorIs(t, err, kv.ErrNotFound)
	} else {
		require.NoError(t, err)
		require.Equal(t, want["k001"], string(v))
	}
}

// TestCluster_copierResets makes copiers reset (a small reset threshold):
// each reset closes the engine, drops the overlay, reopens Pebble on
// shared storage as the writer left it and catches up from the index
// stored in the database. The data must stay identical on every node.
func TestCluster_copierResets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := kv.StartLocal(ctx, kv.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
		cfg.ResetThreshold = 256 << 10
		cfg.ReportInterval = 20 * time.Millisecond
	}})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	sub := c.Leader().Subscribe(256)
	defer sub.Unsubscribe()

	want := map[string]string{}
	resets := 0
	var last uint64
	for round := 0; resets < 2 && round < 40; round++ {
		for i := range 50 {
			k, v := fmt.Sprintf("k%04d", (round*50+i)%700), fmt.Sprintf("v%d-%d-%0200d", round, i, i)
			last, err = c.Write(ctx, kv.Put([]byte(k), []byte(v)))
			require.NoError(t, err)
			want[k] = v
		}
		for len(sub.C()) > 0 {
			if ev := <-sub.C(); ev.Kind == raftcluster.EventResetDone {
				resets++
			}
		}
	}
	// Both overlays passed the threshold; the copiers take turns in the
	// reset slot, each a handshake with the writer.
	for resets < 2 {
		select {
		case ev := <-sub.C():
			if ev.Kind == raftcluster.EventResetDone {
				resets++
			}
		case <-ctx.Done():
			t.Fatalf("copiers did not reset: %d resets", resets)
		}
	}
	kv.RequireAgree(t, ctx, c, want, last, "after resets")
}

// TestCluster_holdRemoved: a member that joins a database with tables
// reads them from shared storage; the writer's compactions then remove
// them, and with zero-copy removes (the cluster's default) they move to
// the holding area instead of into the copier's overlay. The data stays
// identical on every node.
func TestCluster_holdRemoved(t *testing.T) {
	ctx, c := startCluster(t, kv.Options{Nodes: 2})
	want := map[string]string{}
	var (
		last uint64
		err  error
	)
	// write puts n batches of 100 values of 1 KiB (100 KiB per entry:
	// a 1 MiB memtable fills every ten).
	write := func(round, n int) {
		for b := range n {
			ops := make([]kv.Op, 100)
			for i := range ops {
				k := fmt.Sprintf("k%05d", (b*100+i)*7%3000)
				v := fmt.Sprintf("v%d-%d-%01000d", round, b, i)
				ops[i] = kv.Put([]byte(k), []byte(v))
				want[k] = v
			}
			last, err = c.Write(ctx, ops...)
			require.NoError(t, err)
		}
	}
	write(0, 50)
	n3, err := c.Add(ctx, "n3")
	require.NoError(t, err)
	require.NoError(t, c.WaitApplied(ctx, last))
	w := c.Writer(ctx)
	require.NotNil(t, w)
	for round := 1; w.Storage.View().Stats().HeldFiles == 0 && round <= 10; round++ {
		write(round, 50)
	}
	require.NotZero(t, w.Storage.View().Stats().HeldFiles, "the writer's compactions held no table that n3 read")
	kv.RequireAgree(t, ctx, c, want, last, "at the end")
	t.Logf("writer holds %d files; n3's overlay %d B", w.Storage.View().Stats().HeldFiles, n3.Storage.OverlayBytes())
}

// startCluster starts an in-process cluster with opts, closed (and checked)
// when the test ends, and returns it with a context that ends within 60s.
func startCluster(t *testing.T, opts kv.Options) (context.Context, *kv.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, err := kv.StartLocal(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return ctx, c
}
