package replica_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// countingEngine opens mapDBs that record what the replica asks of them:
// the size of each DB.Apply and the number of Syncs and Opens.
//
// Concurrency: safe for concurrent use (mu guards the counts).
type countingEngine struct {
	mu      sync.Mutex
	applies []int // entries per DB.Apply, in order
	syncs   int
	opens   int
}

type countingDB struct {
	*mapDB
	e *countingEngine
}

func (e *countingEngine) Open(view vfs.FS) (*countingDB, error) {
	db, err := mapEngine{}.Open(view)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.opens++
	e.mu.Unlock()
	return &countingDB{mapDB: db, e: e}, nil
}

func (d *countingDB) Apply(es []replica.Entry) error {
	d.e.mu.Lock()
	d.e.applies = append(d.e.applies, len(es))
	d.e.mu.Unlock()
	return d.mapDB.Apply(es)
}

func (d *countingDB) Sync() error {
	d.e.mu.Lock()
	d.e.syncs++
	d.e.mu.Unlock()
	return d.mapDB.Sync()
}

// counts returns a copy of the counts and resets them.
func (e *countingEngine) counts() (applies []int, syncs, opens int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	applies, syncs, opens = e.applies, e.syncs, e.opens
	e.applies, e.syncs, e.opens = nil, 0, 0
	return applies, syncs, opens
}

// The apply path's cost per entry (examples/bench figure 10): each run of
// consecutive commands in one Apply call reaches the database as one
// DB.Apply (group commit: one transaction, one commit), at most MaxBatch
// long; a durable marker only ends the run before it. Nothing in the
// apply path syncs or reopens the database: the one Sync is DurableIndex's
// (once per durable marker the writer proposes), and nothing else.
func TestReplica_groupCommitCounts(t *testing.T) {
	ctx := context.Background()
	lg := replicatest.NewLog()
	eng := &countingEngine{}
	r := replica.New(replica.Config[*countingDB]{Engine: eng, Name: t.Name(), MaxBatch: 64})
	r.SetLog(lg)
	t.Cleanup(func() { r.Shutdown() })
	require.NoError(t, r.Open(ctx, roleFS{vfs.NewMem(), cow.RoleWriter}))
	applies, syncs, opens := eng.counts()
	require.Empty(t, applies, "an empty log replays nothing")
	require.Equal(t, 0, syncs)
	require.Equal(t, 1, opens)

	// 100 commands, a durable marker, 30 commands, handed over in one
	// call (as Raft does when its apply falls behind).
	adds(lg, 100)
	lg.Append(replica.EncodeDurable(100))
	adds(lg, 30)
	out := lg.Feed(r, 1, lg.Len(), int(lg.Len()))
	require.Len(t, out, 131)
	for i, o := range out {
		require.Equal(t, replica.Applied, o, "entry %d", i+1)
	}
	applies, syncs, opens = eng.counts()
	assert.Equal(t, []int{64, 36, 30}, applies, "runs of commands per DB.Apply")
	assert.Equal(t, 0, syncs, "the apply path syncs nothing")
	assert.Equal(t, 0, opens, "the apply path reopens nothing")

	// One entry per call (sequential writes): one DB.Apply each, no sync.
	from := lg.Len() + 1
	adds(lg, 20)
	lg.Feed(r, from, lg.Len(), 1)
	applies, syncs, opens = eng.counts()
	assert.Equal(t, 20, len(applies))
	for _, n := range applies {
		assert.Equal(t, 1, n)
	}
	assert.Equal(t, 0, syncs)
	assert.Equal(t, 0, opens)

	// Durable markers alone (the writer's periodic ones): no DB.Apply.
	from = lg.Len() + 1
	lg.Append(replica.EncodeDurable(150), replica.EncodeDurable(151))
	lg.Feed(r, from, lg.Len(), 2)
	applies, syncs, _ = eng.counts()
	assert.Empty(t, applies)
	assert.Equal(t, 0, syncs)

	// DurableIndex, which precedes each marker, syncs once.
	d, ok := r.DurableIndex()
	require.True(t, ok)
	assert.Equal(t, lg.Len(), d)
	_, syncs, _ = eng.counts()
	assert.Equal(t, 1, syncs)
	require.Equal(t, 150, countA(t, r))
}

func countA(t *testing.T, r *replica.Replica[*countingDB]) int {
	t.Helper()
	db, _, release, err := r.Acquire(context.Background())
	require.NoError(t, err)
	defer release()
	return db.counters()["a"]
}
