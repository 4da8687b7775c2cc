package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// memLog is a replica.Log in memory: the entries handed to the engine,
// and a writer Guard that fails with guardErr once it is set.
//
// Concurrency: safe for concurrent use.
type memLog struct {
	mu       sync.Mutex
	entries  [][]byte // entry i+1
	guardErr atomic.Pointer[error]
}

// apply appends cmd to the log and hands it to e, as raftcluster does.
func (l *memLog) apply(t *testing.T, e *kv.Engine, cmd []byte) {
	t.Helper()
	l.mu.Lock()
	l.entries = append(l.entries, cmd)
	i := uint64(len(l.entries))
	l.mu.Unlock()
	require.Nil(t, e.Apply(i, cmd))
}

func (l *memLog) ReadLog(from uint64, fn func(uint64, []byte) error) error {
	l.mu.Lock()
	es := append([][]byte(nil), l.entries...)
	l.mu.Unlock()
	for i := from; i >= 1 && i <= uint64(len(es)); i++ {
		if err := fn(i, es[i-1]); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) AppliedIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

func (l *memLog) WaitApplied(_ context.Context, index uint64) error {
	if l.AppliedIndex() < index {
		return fmt.Errorf("memLog: %d not applied", index)
	}
	return nil
}

func (l *memLog) Guard() func(context.Context) error {
	return func(context.Context) error {
		if p := l.guardErr.Load(); p != nil {
			return *p
		}
		return nil
	}
}

func putCmd(t *testing.T, k, val string) []byte {
	t.Helper()
	b, err := kv.Command(kv.Put([]byte(k), []byte(val)))
	require.NoError(t, err)
	return b
}

// guardedWriter returns a writer view on a new shared FS whose guard
// fails with *fail once it is set.
func guardedWriter(t *testing.T, fail *atomic.Pointer[error]) *cow.View {
	v, err := cow.NewWriter(vfs.NewMem(), cow.NewDirect(), cow.Options{})
	require.NoError(t, err)
	v.SetGuard(func(context.Context) error {
		if p := fail.Load(); p != nil {
			return *p
		}
		return nil
	})
	return v
}

// TestEngine_fencedCommit: a deposed writer's view refuses Pebble's WAL
// write (raftcluster.ErrFenced through the cow guard), which Pebble reports
// as fatal. The engine must not crash the process nor record a divergence:
// the entry is deferred, the database withdrawn, and the next Open catches
// up from the log.
func TestEngine_fencedCommit(t *testing.T) {
	ctx := context.Background()
	e, v, lg, fail := openFenceEngine(t)
	require.Equal(t, uint64(1), e.Applied())
	fenced := error(&raftcluster.OpError{Op: "guard", Err: raftcluster.ErrFenced})
	fail.Store(&fenced)
	lg.apply(t, e, putCmd(t, "b", "2")) // a fenced commit is no apply failure
	lg.apply(t, e, putCmd(t, "c", "3")) // entries after it are deferred
	require.NoError(t, e.Check(), "a fenced engine has not diverged")
	_, err := e.Get([]byte("a"))
	require.ErrorIs(t, err, kv.ErrClosed, "withdrawn from readers until it reopens")
	require.NoError(t, e.Close())

	fail.Store(nil)
	require.NoError(t, e.Open(ctx, v))
	require.Equal(t, uint64(3), e.Applied())
	for k, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		got, err := e.Get([]byte(k))
		require.NoError(t, err, k)
		require.Equal(t, want, string(got), k)
	}
	require.NoError(t, e.Check())
	require.NoError(t, e.Close())
}

// TestEngine_failedCommitChecked: a commit that fails for another reason
// than fencing is reported by Check while the database stays withdrawn.
func TestEngine_failedCommitChecked(t *testing.T) {
	e, _, lg, fail := openFenceEngine(t)
	broken := errors.New("disk on fire")
	fail.Store(&broken)
	lg.apply(t, e, putCmd(t, "b", "2"))
	require.ErrorIs(t, e.Check(), broken)
	require.NoError(t, e.Close())
}

// TestEngine_deposedWriterReads: reads on a writer view pass only while
// the log's Guard does: a deposed writer must not read what its successor
// may be changing on shared storage.
func TestEngine_deposedWriterReads(t *testing.T) {
	e, _, lg, _ := openFenceEngine(t)
	got, err := e.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(got))

	fenced := error(&raftcluster.OpError{Op: "guard", Err: raftcluster.ErrFenced})
	lg.guardErr.Store(&fenced)
	_, err = e.Get([]byte("a"))
	require.ErrorIs(t, err, kv.ErrClosed)
	require.ErrorIs(t, err, raftcluster.ErrFenced)
	_, _, err = e.Scan(nil, nil, 0)
	require.ErrorIs(t, err, kv.ErrClosed)
	require.NoError(t, e.Close())
}

// TestEngine_emptyValue: a key put with an empty value is present (an
// empty value), not ErrNotFound.
func TestEngine_emptyValue(t *testing.T) {
	var fail atomic.Pointer[error]
	lg := &memLog{}
	e := kv.NewEngine(nil)
	defer func() { require.NoError(t, e.Shutdown()) }()
	e.SetLog(lg)
	require.NoError(t, e.Open(context.Background(), guardedWriter(t, &fail)))
	lg.apply(t, e, putCmd(t, "a", ""))
	got, err := e.Get([]byte("a"))
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = e.Get([]byte("b"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.NoError(t, e.Close())
}

// openFenceEngine opens an engine on a guarded writer view fed by an
// in-memory log and applies a=1 through it. Storing an error in fail makes
// the view's guard refuse every mutation with it.
func openFenceEngine(t *testing.T) (*kv.Engine, *cow.View, *memLog, *atomic.Pointer[error]) {
	t.Helper()
	fail := new(atomic.Pointer[error])
	v := guardedWriter(t, fail)
	lg := &memLog{}
	e := kv.NewEngine(nil)
	t.Cleanup(func() { require.NoError(t, e.Shutdown()) })
	e.SetLog(lg)
	require.NoError(t, e.Open(context.Background(), v))
	lg.apply(t, e, putCmd(t, "a", "1"))
	return e, v, lg, fail
}
