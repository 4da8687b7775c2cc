package replica_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// Entries that do not carry the replica's framing (a hostile or buggy
// proposer: empty, an unknown kind, a durable marker with trailing or
// missing bytes) are ignored alike by a member that applies them as they
// commit, in batches of any size, and by one that catches up through the
// log when it opens: both reach the same state at the same index.
func TestReplica_malformedEntriesIgnoredAlike(t *testing.T) {
	ctx := context.Background()
	lg := replicatest.NewLog()
	bad := [][]byte{
		nil,
		{0xff, 'a', '+', '1'},
		{'D'},                               // marker without its index
		append(replica.EncodeDurable(3), 0), // marker with a trailing byte
		{'D', 0x80, 0x80},                   // truncated uvarint
	}
	for i, b := range bad {
		adds(lg, i+1)
		lg.Append(b)
	}
	adds(lg, 2)
	const want = 1 + 2 + 3 + 4 + 5 + 2

	open := func(name string) *replica.Replica[*mapDB] {
		r := replica.New(replica.Config[*mapDB]{Engine: mapEngine{}, Name: name})
		r.SetLog(lg)
		t.Cleanup(func() { r.Shutdown() })
		return r
	}
	for _, batch := range []int{1, 3, int(lg.Len())} {
		live := open(t.Name() + "-live")
		require.NoError(t, live.Open(ctx, roleFS{vfs.NewMem(), cow.RoleWriter}))
		lg.Feed(live, 1, lg.Len(), batch)
		n, applied := counter(t, live)
		require.Equal(t, want, n, "batch %d: live apply", batch)
		require.Equal(t, lg.Len(), applied, "batch %d", batch)
	}

	late := open(t.Name() + "-catchup")
	require.NoError(t, late.Open(ctx, roleFS{vfs.NewMem(), cow.RoleWriter})) // replays the log
	n, applied := counter(t, late)
	require.Equal(t, want, n, "catch-up through the log")
	require.Equal(t, lg.Len(), applied)
}

// counter returns counter "a" of r's database and the index it stores.
func counter(t *testing.T, r *replica.Replica[*mapDB]) (int, uint64) {
	t.Helper()
	db, _, release, err := r.Acquire(context.Background())
	require.NoError(t, err)
	defer release()
	applied, err := db.Applied()
	require.NoError(t, err)
	return db.counters()["a"], applied
}
