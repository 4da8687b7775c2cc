package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
)

// Engine is one member's key-value engine: a replica.Replica running
// ReplicaEngine (Pebble) on the member's current cow view, fed by the
// Raft log. It implements netstorage.Engine (Open, Close) and
// raftcluster's ApplyBatchFunc (ApplyBatch) and ApplyFunc (Apply).
//
// The replica opens Pebble on each view and catches it up from the index
// stored in the database through the node's log, applies runs of
// consecutive commands as one synced Pebble batch (group commit), and
// after a failed apply (a deposed writer's view refuses the write:
// raftcluster.ErrFenced) withdraws the database from readers, reopens it
// and catches up again.
//
// It also keeps the log compaction safe: on the writer, Checkpoint
// proposes durable markers (replica.EncodeDurable) for what Pebble holds
// durably, and CompactableIndex (raftcluster.Config.CompactableIndex)
// follows them; a copier whose database misses entries the log no longer
// holds asks for a reset (ResetRequested, acted on by Storage).
//
// Concurrency: safe for concurrent use. Applies, opens and closes
// serialize in the replica; reads run beside them on Pebble's snapshot
// isolation. durable, lastMarker and resetReq are atomics, set from the
// replica's hooks (under its apply lock), Checkpoint and Storage.
type Engine struct {
	rep  *replica.Replica[*ReplicaDB]
	node func() *raftcluster.Node

	failMu   sync.Mutex
	lastFail error // the apply or reopening that failed last, until one succeeds

	durable    atomic.Uint64 // highest index a durable marker proved (Hooks.OnDurable)
	lastMarker atomic.Uint64 // log index of the last marker Checkpoint proposed
	resetReq   atomic.Bool   // the copier view must reset (Hooks.NeedReset)
}

// NewEngine returns a closed engine; node returns the member's running
// node (its log for the catch-up, its Guard for reads on the writer
// view), or nil while there is none.
func NewEngine(node func() *raftcluster.Node) *Engine {
	return newEngine(node, "", slog.Default())
}

func newEngine(node func() *raftcluster.Node, name string, log *slog.Logger) *Engine {
	e := &Engine{node: node}
	e.rep = replica.New(replica.Config[*ReplicaDB]{Engine: ReplicaEngine{}, Name: name, Logger: log,
		Hooks: replica.Hooks[*ReplicaDB]{
			Failed:     func(_ string, err error, _ bool) { e.setFail(err) },
			Succeeded:  func() { e.setFail(nil) },
			ViewClosed: func() { e.setFail(nil) },
			OnDurable:  e.noteDurable,
			NeedReset:  func() { e.resetReq.Store(true) },
		}})
	e.rep.SetLog(nodeLog{node})
	return e
}

func (e *Engine) setFail(err error) {
	e.failMu.Lock()
	e.lastFail = err
	e.failMu.Unlock()
}

// noteDurable raises durable to d (a durable marker applied).
func (e *Engine) noteDurable(d uint64) {
	for {
		cur := e.durable.Load()
		if d <= cur || e.durable.CompareAndSwap(cur, d) {
			return
		}
	}
}

// DurableIndex returns, on the writer, a log index such that shared
// storage's database durably reflects every entry up to it; ok is false
// on a copier and while the database is not current.
func (e *Engine) DurableIndex() (uint64, bool) { return e.rep.DurableIndex() }

// CompactableIndex is raftcluster.Config.CompactableIndex: how far the
// shared database is durable, as the writer last recorded it in the log
// with a durable marker (on the writer itself, its own durable index,
// every batch being synced). The log is never compacted past it.
func (e *Engine) CompactableIndex() uint64 {
	if d, ok := e.rep.DurableIndex(); ok {
		return max(d, e.durable.Load())
	}
	return e.durable.Load()
}

// Checkpoint, on the writer, proposes a durable marker for the index its
// database durably reflects, if that moved since the last marker it
// proposed, and returns that index. Compaction on every member follows
// these markers; Cluster runs it every Options.DurableInterval. It fails
// with a *raftcluster.NotLeaderError off the leader, and with
// replica.ErrNotReady while the database is not the writer's or not
// current.
func (e *Engine) Checkpoint(ctx context.Context) (uint64, error) {
	var n *raftcluster.Node
	if e.node != nil {
		n = e.node()
	}
	if n == nil {
		return 0, &raftcluster.NotLeaderError{Op: "checkpoint"}
	}
	if !n.IsLeader() {
		id, addr := n.Leader()
		return 0, &raftcluster.NotLeaderError{Op: "checkpoint", LeaderID: id, LeaderAddr: addr}
	}
	d, ok := e.rep.DurableIndex()
	if !ok {
		return 0, fmt.Errorf("kv: checkpoint: not the writer, or the database is catching up: %w", replica.ErrNotReady)
	}
	if d <= e.lastMarker.Load() {
		return d, nil // nothing since our own marker
	}
	idx, _, err := n.Apply(ctx, replica.EncodeDurable(d))
	if err != nil {
		return 0, fmt.Errorf("kv: checkpoint at %d: %w", d, err)
	}
	e.lastMarker.Store(idx)
	return d, nil
}

// ResetRequested reports whether the engine asked for a reset of its
// copier view: its database misses entries that the log no longer holds
// (Storage reports it to the leader, which grants the reset).
func (e *Engine) ResetRequested() bool { return e.resetReq.Load() }

// SetLog replaces the node's log (for a member that does not run a
// raftcluster.Node, and tests).
func (e *Engine) SetLog(l replica.Log) { e.rep.SetLog(l) }

// nodeLog is the log of the node that node returns; without a node it is
// empty and fences nothing.
type nodeLog struct{ node func() *raftcluster.Node }

func (l nodeLog) get() *raftcluster.Node {
	if l.node == nil {
		return nil
	}
	return l.node()
}

func (l nodeLog) ReadLog(from uint64, fn func(index uint64, cmd []byte) error) error {
	if n := l.get(); n != nil {
		return n.ReadLog(from, fn)
	}
	return nil
}

func (l nodeLog) AppliedIndex() uint64 {
	if n := l.get(); n != nil {
		return n.AppliedIndex()
	}
	return 0
}

func (l nodeLog) WaitApplied(ctx context.Context, index uint64) error {
	if n := l.get(); n != nil {
		return n.WaitApplied(ctx, index)
	}
	return nil
}

func (l nodeLog) Guard() func(ctx context.Context) error {
	if n := l.get(); n != nil {
		return n.Guard()
	}
	return func(context.Context) error { return nil }
}

// Open opens Pebble on fsys, catches up from the index stored in the
// database through the log, and publishes it to readers.
func (e *Engine) Open(ctx context.Context, fsys vfs.FS) error { return e.rep.Open(ctx, fsys) }

// Close withdraws and closes Pebble; entries applied meanwhile are
// caught up from the log by the next Open.
func (e *Engine) Close() error { return e.rep.Close() }

// Shutdown closes the engine for good (and stops its recovery loop).
func (e *Engine) Shutdown() error { return e.rep.Shutdown() }

// ApplyBatch is the node's raftcluster.ApplyBatchFunc: the replica
// applies each run of commands in one Pebble batch. Every response is
// nil: a command the database cannot apply now is caught up later.
func (e *Engine) ApplyBatch(entries []raftcluster.Entry) [][]byte {
	es := make([]replica.Entry, len(entries))
	for i, en := range entries {
		es[i] = replica.Entry{Index: en.Index, Data: en.Cmd}
	}
	e.rep.Apply(es)
	return make([][]byte, len(entries))
}

// Apply is the node's raftcluster.ApplyFunc (ApplyBatch of one entry).
func (e *Engine) Apply(index uint64, cmd []byte) []byte {
	e.ApplyBatch([]raftcluster.Entry{{Index: index, Cmd: cmd}})
	return nil
}

// OnRestore is the node's raftcluster OnRestore (see
// replica.Replica.OnRestore).
func (e *Engine) OnRestore(index uint64) { e.rep.OnRestore(index) }

// Applied returns the index of the last entry applied to the published
// database (0 while none is published).
func (e *Engine) Applied() uint64 { return e.rep.Stats().Applied }

// read runs fn on the published database, without waiting: ErrClosed
// while none is published, or while its view is a writer's that is no
// longer the writer (checked before and after fn).
func (e *Engine) read(fn func(db *ReplicaDB) error) error {
	if !e.rep.Ready() {
		return fmt.Errorf("%w (%w)", ErrClosed, replica.ErrNotReady)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a database withdrawn meanwhile is not waited for
	db, view, release, err := e.rep.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%w (%w)", ErrClosed, replica.ErrNotReady)
	}
	defer release()
	if err := e.rep.Guard(context.Background(), view); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if err := fn(db); err != nil {
		return replica.NotReady(err)
	}
	if err := e.rep.Guard(context.Background(), view); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Get returns key's value as of the last applied entry (ErrNotFound if
// absent, ErrClosed while the engine is closed or reopening).
func (e *Engine) Get(key []byte) ([]byte, error) {
	var v []byte
	var ok bool
	err := e.read(func(db *ReplicaDB) (err error) {
		v, ok, err = db.get(key)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, ErrNotFound
	}
	return v, nil
}

// KV is one key and its value.
type KV struct {
	Key, Value []byte
}

// Scan returns up to limit pairs (limit <= 0: all) with start <= key < end
// (nil end: no bound) in key order, and the applied index they reflect.
func (e *Engine) Scan(start, end []byte, limit int) ([]KV, uint64, error) {
	var out []KV
	var applied uint64
	err := e.read(func(db *ReplicaDB) (err error) {
		out, applied, err = db.scan(start, end, limit)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, applied, nil
}

// Check returns the replica's invariants and Pebble's consistency check
// of its levels, and the failure that keeps the database withdrawn, if
// any, unless it is a fenced write (a deposed writer, which reopens on
// its new view) or an invalidated copier view (which resets).
func (e *Engine) Check() error {
	errs := []error{e.rep.Check()}
	e.failMu.Lock()
	f := e.lastFail
	e.failMu.Unlock()
	if f != nil && !errors.Is(f, raftcluster.ErrFenced) && !errors.Is(f, cow.ErrInvalidated) {
		errs = append(errs, fmt.Errorf("kv: database withdrawn until it reopens: %w", f))
	}
	return errors.Join(errs...)
}
