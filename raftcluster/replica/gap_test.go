package replica_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// roleFS is a view with a cow role, without the rest of cow.
type roleFS struct {
	vfs.FS
	role cow.Role
}

func (r roleFS) Role() cow.Role { return r.role }

func adds(lg *replicatest.Log, n int) {
	for i := 0; i < n; i++ {
		lg.Append(replica.EncodeCommand([]byte("a+1")))
	}
}

func newMapReplica(t *testing.T, lg replica.Log, hooks replica.Hooks[*mapDB]) *replica.Replica[*mapDB] {
	r := replica.New(replica.Config[*mapDB]{Engine: mapEngine{}, Name: t.Name(), RecoverEvery: 5 * time.Millisecond, Hooks: hooks})
	r.SetLog(lg)
	t.Cleanup(func() { r.Shutdown() })
	return r
}

func count(t *testing.T, r *replica.Replica[*mapDB]) int {
	t.Helper()
	db, _, release, err := r.Acquire(context.Background())
	require.NoError(t, err)
	defer release()
	return db.counters()["a"]
}

// A copier's own database that misses entries the log no longer holds
// cannot catch up: Open fails with ErrCompacted and the replica asks for
// a reset. A fresh view (shared storage as it is) starts at the log's
// first entry instead.
func TestReplica_compactedCopierAsksReset(t *testing.T) {
	lg := replicatest.NewLog()
	adds(lg, 10)
	lg.SetApplied(10)
	lg.Compact(6)
	var resets atomic.Int32
	r := newMapReplica(t, lg, replica.Hooks[*mapDB]{NeedReset: func() { resets.Add(1) }})
	err := r.Open(context.Background(), roleFS{vfs.NewMem(), cow.RoleCopier})
	require.ErrorIs(t, err, raftcluster.ErrCompacted)
	require.EqualValues(t, 1, resets.Load())
	require.False(t, r.Ready())

	// On a writer view the same log replays from its first entry.
	require.NoError(t, r.Open(context.Background(), roleFS{vfs.NewMem(), cow.RoleWriter}))
	require.Equal(t, 5, count(t, r))
}

// A snapshot installed past the database withdraws it and reopens it
// from the log; on a copier view that misses the compacted entries, the
// replica asks for a reset.
func TestReplica_onRestore(t *testing.T) {
	lg := replicatest.NewLog()
	adds(lg, 3)
	reset := make(chan struct{}, 1)
	r := newMapReplica(t, lg, replica.Hooks[*mapDB]{NeedReset: func() {
		select {
		case reset <- struct{}{}:
		default:
		}
	}})
	require.NoError(t, r.Open(context.Background(), roleFS{vfs.NewMem(), cow.RoleCopier}))
	lg.Feed(r, 1, 3, 8)
	// Raft installs a snapshot at 8: entries 4..8 never reach Apply.
	adds(lg, 5)
	lg.SetApplied(8)
	lg.Compact(9)
	r.OnRestore(8)
	require.False(t, r.Ready(), "a database behind the snapshot stays published")
	select {
	case <-reset:
	case <-time.After(10 * time.Second):
		t.Fatal("the gapped copier did not ask for a reset")
	}

	// Without a gap (the log still holds the entries), it reopens and
	// catches up by itself.
	lg2 := replicatest.NewLog()
	adds(lg2, 3)
	r2 := newMapReplica(t, lg2, replica.Hooks[*mapDB]{})
	require.NoError(t, r2.Open(context.Background(), vfs.NewMem()))
	lg2.Feed(r2, 1, 3, 8)
	adds(lg2, 5)
	lg2.SetApplied(8)
	r2.OnRestore(8)
	require.Equal(t, 8, count(t, r2))
}

// A writer view reads only while the log's Guard passes.
func TestReplica_guardWriterView(t *testing.T) {
	lg := replicatest.NewLog()
	r := newMapReplica(t, lg, replica.Hooks[*mapDB]{})
	w, c := roleFS{vfs.NewMem(), cow.RoleWriter}, roleFS{vfs.NewMem(), cow.RoleCopier}
	require.NoError(t, r.Guard(context.Background(), w))
	fenced := errors.New("fenced")
	lg.SetGuard(func(context.Context) error { return fenced })
	err := r.Guard(context.Background(), w)
	require.ErrorIs(t, err, replica.ErrNotReady)
	require.ErrorIs(t, err, fenced)
	require.NoError(t, r.Guard(context.Background(), c), "a copier view does not need the writer's guard")
}

// Hold stops the replica in place: a reader waits while the database is
// withdrawn and proceeds once it is published again.
func TestReplica_hold(t *testing.T) {
	lg := replicatest.NewLog()
	r := newMapReplica(t, lg, replica.Hooks[*mapDB]{})
	require.NoError(t, r.Open(context.Background(), vfs.NewMem()))
	release := r.Hold(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, _, err := r.Acquire(ctx)
	require.ErrorIs(t, err, replica.ErrNotReady)
	release()
	require.True(t, r.Ready())
	require.NoError(t, r.Shutdown())
	_, _, _, err = r.Acquire(context.Background())
	require.ErrorIs(t, err, replica.ErrClosed)
	require.ErrorIs(t, r.Open(context.Background(), vfs.NewMem()), replica.ErrClosed)
}

// intrDB is a mapDB whose Apply fails once interrupted.
type intrDB struct {
	*mapDB
	stop atomic.Bool
}

func (d *intrDB) Interrupt() { d.stop.Store(true) }
func (d *intrDB) Apply(es []replica.Entry) error {
	if d.stop.Load() {
		return errors.New("interrupted")
	}
	return d.mapDB.Apply(es)
}

// Interrupt reaches the open database without the apply lock, and keeps
// the replica from opening again.
func TestReplica_interrupt(t *testing.T) {
	lg := replicatest.NewLog()
	adds(lg, 2)
	eng := replica.EngineFunc[*intrDB](func(view vfs.FS) (*intrDB, error) {
		db, err := mapEngine{}.Open(view)
		return &intrDB{mapDB: db}, err
	})
	r := replica.New(replica.Config[*intrDB]{Engine: eng, Name: t.Name()})
	t.Cleanup(func() { r.Shutdown() })
	r.SetLog(lg)
	require.NoError(t, r.Open(context.Background(), vfs.NewMem()))
	release := r.Hold(false) // Interrupt must not wait for the apply lock
	r.Interrupt()
	release()
	out := lg.Feed(r, 1, 2, 2)
	require.Equal(t, []replica.Outcome{replica.Deferred, replica.Deferred}, out)
	require.ErrorIs(t, r.Open(context.Background(), vfs.NewMem()), replica.ErrClosed)
}

// At sees the database after exactly the entries up to its index, even
// when they arrive in one Apply call with later ones.
func TestReplica_at(t *testing.T) {
	lg := replicatest.NewLog()
	adds(lg, 6)
	r := newMapReplica(t, lg, replica.Hooks[*mapDB]{})
	require.NoError(t, r.Open(context.Background(), vfs.NewMem()))
	lg.Feed(r, 1, 2, 8)
	got := make(chan int, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- r.At(context.Background(), 4, func(st replica.State[*mapDB]) error {
			got <- st.DB.counters()["a"]
			return nil
		})
	}()
	require.Eventually(t, func() bool { return lg.Waiting() > 0 }, 10*time.Second, time.Millisecond)
	lg.Feed(r, 3, 6, 8) // one call: the state at 4 exists only inside it
	require.NoError(t, <-errc)
	require.Equal(t, 4, <-got)

	err := r.At(context.Background(), 3, func(replica.State[*mapDB]) error { return nil })
	require.ErrorIs(t, err, replica.ErrPassed)
	require.NoError(t, r.At(context.Background(), 6, func(st replica.State[*mapDB]) error {
		require.Equal(t, 6, st.DB.counters()["a"])
		return nil
	}))
}
