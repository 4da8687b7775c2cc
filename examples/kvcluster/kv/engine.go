package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// Keys in Pebble: user keys under userPrefix, the applied index at
// appliedKey (sorting before every user key).
var (
	appliedKey = []byte("m/applied")
	userPrefix = []byte("u/")
	userEnd    = []byte("u0") // '0' follows '/'
)

// Dir is the directory of the view that holds the Pebble database.
const Dir = "kv"

// Engine is one member's key-value engine: Pebble on the member's current
// cow view, fed by the Raft log in index order. It implements
// netstorage.Engine (Open, Close) and raftcluster.ApplyFunc (Apply).
//
// Each entry is one Pebble batch holding its writes and the applied index,
// committed with Sync: on the writer the database is durable on shared
// storage at every applied index; a copier's view ignores the sync.
//
// Concurrency: safe for concurrent use. Apply and Open/Close exclude each
// other; reads run beside them on Pebble's snapshot isolation.
type Engine struct {
	node func() *raftcluster.Node

	mu struct {
		sync.RWMutex
		db      *pebble.DB
		applied uint64
		pending []pendingEntry // entries handed to Apply while closed or broken
		errs    []error        // apply failures (the node diverges)
		// broken: a commit failed inside Pebble (its commit pipeline is
		// then unusable, see pebbleFatal), typically a deposed writer
		// whose view refuses the write (raftcluster.ErrFenced). Entries
		// queue as while closed; the next Open, on the view the member's
		// new role gives it, catches up from the index stored in the
		// database.
		broken error
	}
}

type pendingEntry struct {
	index uint64
	cmd   []byte
}

// NewEngine returns a closed engine; node returns the member's running
// node (for ReadLog when the engine opens).
func NewEngine(node func() *raftcluster.Node) *Engine { return &Engine{node: node} }

// Open opens Pebble on fsys and catches up: from the applied index stored
// in the database, through the node's log, then the entries queued while
// closed.
func (e *Engine) Open(ctx context.Context, fsys vfs.FS) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db != nil {
		return fmt.Errorf("kv: open: already open")
	}
	db, err := pebble.Open(Dir, &pebble.Options{
		FS:           pebblevfs.New(fsys),
		Logger:       quietLogger{},
		MemTableSize: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("kv: open: %w", err)
	}
	applied, err := readApplied(db)
	if err != nil {
		db.Close()
		return err
	}
	e.mu.db, e.mu.applied = db, applied
	if n := e.node(); n != nil {
		if err := n.ReadLog(applied+1, e.applyLocked); err != nil {
			return e.failOpen(fmt.Errorf("kv: catch up from %d: %w", applied+1, err))
		}
	}
	for _, p := range e.mu.pending {
		if err := e.applyLocked(p.index, p.cmd); err != nil {
			return e.failOpen(err)
		}
	}
	e.mu.pending = nil
	return nil
}

func (e *Engine) failOpen(err error) error {
	closeDB(e.mu.db)
	e.mu.db, e.mu.broken = nil, nil
	return err
}

func readApplied(db *pebble.DB) (uint64, error) {
	v, closer, err := db.Get(appliedKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("kv: read applied index: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("kv: applied index of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes Pebble; entries applied meanwhile are queued for Open.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db == nil {
		return nil
	}
	db, broken := e.mu.db, e.mu.broken
	e.mu.db, e.mu.broken = nil, nil
	err := closeDB(db)
	if broken != nil {
		// Pebble's commit pipeline failed: what Close reports about it
		// (the WAL it cannot finish) is that failure again.
		return nil
	}
	return err
}

// Apply is the node's raftcluster.ApplyFunc. It returns nil, or the
// error's text for a command that could not be applied (recorded, see
// Check).
func (e *Engine) Apply(index uint64, cmd []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db == nil || e.mu.broken != nil {
		e.mu.pending = append(e.mu.pending, pendingEntry{index, bytes.Clone(cmd)})
		return nil
	}
	if err := e.applyLocked(index, cmd); err != nil {
		if e.mu.broken != nil {
			// Not applied here, not a divergence: queued for the next
			// Open like an entry that arrives while closed.
			e.mu.pending = append(e.mu.pending, pendingEntry{index, bytes.Clone(cmd)})
			return nil
		}
		e.mu.errs = append(e.mu.errs, err)
		return []byte(err.Error())
	}
	return nil
}

// applyLocked commits entry index as one synced Pebble batch: its writes
// and the new applied index. Indices already applied are skipped.
func (e *Engine) applyLocked(index uint64, cmd []byte) error {
	if index <= e.mu.applied {
		return nil
	}
	ops, err := Decode(cmd)
	if err != nil {
		// Not ours (or corrupt): record the index as applied all the same,
		// as every node does, so that all agree.
		ops = nil
	}
	b := e.mu.db.NewBatch()
	defer b.Close()
	for _, o := range ops {
		k := append(bytes.Clone(userPrefix), o.Key...)
		switch o.Kind {
		case OpPut:
			err = b.Set(k, o.Value, nil)
		case OpDelete:
			err = b.Delete(k, nil)
		}
		if err != nil {
			return fmt.Errorf("kv: apply %d: %w", index, err)
		}
	}
	if err := b.Set(appliedKey, binary.BigEndian.AppendUint64(nil, index), nil); err != nil {
		return fmt.Errorf("kv: apply %d: %w", index, err)
	}
	if err := commit(b); err != nil {
		var fatal *pebbleFatal
		if errors.As(err, &fatal) {
			e.mu.broken = err
		}
		return fmt.Errorf("kv: apply %d: %w", index, err)
	}
	e.mu.applied = index
	return nil
}

// Applied returns the index of the last entry applied to the database.
func (e *Engine) Applied() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mu.applied
}

// Get returns key's value as of the last applied entry (ErrNotFound if
// absent, ErrClosed while the engine is closed).
func (e *Engine) Get(key []byte) ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.mu.db == nil {
		return nil, ErrClosed
	}
	v, closer, err := e.mu.db.Get(append(bytes.Clone(userPrefix), key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// KV is one key and its value.
type KV struct {
	Key, Value []byte
}

// Scan returns up to limit pairs (limit <= 0: all) with start <= key < end
// (nil end: no bound) in key order, and the applied index they reflect.
func (e *Engine) Scan(start, end []byte, limit int) ([]KV, uint64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.mu.db == nil {
		return nil, 0, ErrClosed
	}
	upper := userEnd
	if end != nil {
		upper = append(bytes.Clone(userPrefix), end...)
	}
	it, err := e.mu.db.NewIter(&pebble.IterOptions{
		LowerBound: append(bytes.Clone(userPrefix), start...),
		UpperBound: upper,
	})
	if err != nil {
		return nil, 0, err
	}
	var out []KV
	for it.First(); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
		out = append(out, KV{Key: bytes.Clone(it.Key()[len(userPrefix):]), Value: bytes.Clone(it.Value())})
	}
	if err := it.Close(); err != nil {
		return nil, 0, err
	}
	return out, e.mu.applied, nil
}

// Check returns the apply failures recorded so far, and Pebble's own
// consistency check of its levels.
func (e *Engine) Check() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	errs := append([]error(nil), e.mu.errs...)
	if e.mu.broken != nil && !errors.Is(e.mu.broken, raftcluster.ErrFenced) {
		// Fenced: a deposed writer that will reopen on its new view.
		errs = append(errs, fmt.Errorf("kv: engine broken until reopened: %w", e.mu.broken))
	}
	if e.mu.db != nil {
		if err := e.mu.db.CheckLevels(nil); err != nil {
			errs = append(errs, fmt.Errorf("kv: pebble levels: %w", err))
		}
	}
	return errors.Join(errs...)
}

// quietLogger drops Pebble's informational messages and panics on fatal
// ones, as Pebble's default does after logging, with a *pebbleFatal that
// commit and closeDB turn back into an error.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	f := &pebbleFatal{msg: fmt.Sprintf("kv: pebble: "+format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			f.err = err
			break
		}
	}
	panic(f)
}

// pebbleFatal is what Pebble reported through Logger.Fatalf: a failure
// after which the DB must not be used (a commit that failed to write its
// WAL, e.g. on a view that refuses the write). It wraps the error among
// Fatalf's arguments, so errors.Is sees raftcluster.ErrFenced.
type pebbleFatal struct {
	msg string
	err error
}

func (f *pebbleFatal) Error() string { return f.msg }
func (f *pebbleFatal) Unwrap() error { return f.err }

// commit commits b synced, with Pebble's fatal report as an error.
func commit(b *pebble.Batch) (err error) {
	defer recoverFatal(&err)
	return b.Commit(pebble.Sync)
}

// closeDB closes db, with Pebble's fatal report as an error.
func closeDB(db *pebble.DB) (err error) {
	defer recoverFatal(&err)
	return db.Close()
}

// recoverFatal turns a *pebbleFatal panic into *err; other panics go on.
func recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(*pebbleFatal)
	if !ok {
		panic(r)
	}
	*err = f
}
