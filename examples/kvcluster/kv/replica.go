package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/holeycow/holeycow/examples/pebblevfs"
	"github.com/holeycow/holeycow/raftcluster/replica"
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

// ReplicaEngine is the key-value engine as a raftcluster/replica engine:
// Pebble on the view, each batch of commands one synced Pebble batch
// holding their writes and the applied index. Engine runs it in a
// replica.Replica, which does the catch-up, recovery, publication and
// group commit.
type ReplicaEngine struct{}

// ReplicaDB is an open ReplicaEngine database.
//
// Concurrency: the replica calls Apply, Sync, Check and Close one at a
// time; Get and Scan may run beside them (Pebble's snapshot isolation).
type ReplicaDB struct {
	db *pebble.DB
	// fatal: a commit failed inside Pebble (its commit pipeline is then
	// unusable), typically on a deposed writer's view that refuses the
	// write (raftcluster.ErrFenced). Set by Apply, read by Close.
	fatal bool
}

var (
	_ replica.Engine[*ReplicaDB] = ReplicaEngine{}
	_ replica.Checker            = (*ReplicaDB)(nil)
)

// Open opens Pebble in Dir on view.
func (ReplicaEngine) Open(view vfs.FS) (d *ReplicaDB, err error) {
	defer recoverFatal(&err)
	db, err := pebble.Open(Dir, &pebble.Options{
		FS:           pebblevfs.New(view),
		Logger:       quietLogger{},
		MemTableSize: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("kv: open: %w", err)
	}
	return &ReplicaDB{db: db}, nil
}

// Applied returns the index stored with the data.
func (d *ReplicaDB) Applied() (uint64, error) { return readApplied(d.db) }

func readApplied(r pebble.Reader) (uint64, error) {
	v, closer, err := r.Get(appliedKey)
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

// Apply commits the commands' writes and the last index in one synced
// batch. A command that does not decode writes nothing, on every member
// alike.
func (d *ReplicaDB) Apply(entries []replica.Entry) error {
	b := d.db.NewBatch()
	defer b.Close()
	for _, en := range entries {
		ops, err := Decode(en.Data)
		if err != nil {
			continue
		}
		for _, o := range ops {
			k := append(append([]byte(nil), userPrefix...), o.Key...)
			switch o.Kind {
			case OpPut:
				err = b.Set(k, o.Value, nil)
			case OpDelete:
				err = b.Delete(k, nil)
			}
			if err != nil {
				return fmt.Errorf("kv: apply %d: %w", en.Index, err)
			}
		}
	}
	last := entries[len(entries)-1].Index
	if err := b.Set(appliedKey, binary.BigEndian.AppendUint64(nil, last), nil); err != nil {
		return fmt.Errorf("kv: apply %d: %w", last, err)
	}
	if err := commit(b); err != nil {
		var fatal *pebbleFatal
		d.fatal = d.fatal || errors.As(err, &fatal)
		return fmt.Errorf("kv: apply %d..%d: %w", entries[0].Index, last, err)
	}
	return nil
}

// Sync does nothing: every batch is committed synced.
func (d *ReplicaDB) Sync() error { return nil }

// Close closes Pebble. After a fatal commit failure, what Close reports
// (the WAL it cannot finish) is that failure again, which the replica
// already knows: it returns nil.
func (d *ReplicaDB) Close() error {
	err := closeDB(d.db)
	var fatal *pebbleFatal
	if d.fatal || errors.As(err, &fatal) {
		return nil
	}
	return err
}

// Check runs Pebble's consistency check of its levels.
func (d *ReplicaDB) Check() error {
	if err := d.db.CheckLevels(nil); err != nil {
		return fmt.Errorf("kv: pebble levels: %w", err)
	}
	return nil
}

// Get returns the value of key (nil, nil if absent).
func (d *ReplicaDB) Get(key []byte) ([]byte, error) {
	v, _, err := d.get(key)
	return v, err
}

// get returns the value of key and whether it is present.
func (d *ReplicaDB) get(key []byte) ([]byte, bool, error) {
	v, closer, err := d.db.Get(append(append([]byte(nil), userPrefix...), key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kv: get: %w", err)
	}
	defer closer.Close()
	return append([]byte{}, v...), true, nil
}

// Scan returns every key and value, in key order.
func (d *ReplicaDB) Scan() ([]KV, error) {
	kvs, _, err := d.scan(nil, nil, 0)
	return kvs, err
}

// scan returns up to limit pairs (limit <= 0: all) with start <= key <
// end (nil end: no bound) in key order, and the applied index stored in
// the same snapshot.
func (d *ReplicaDB) scan(start, end []byte, limit int) (out []KV, applied uint64, err error) {
	snap := d.db.NewSnapshot()
	defer func() { err = errors.Join(err, snap.Close()) }()
	if applied, err = readApplied(snap); err != nil {
		return nil, 0, err
	}
	upper := userEnd
	if end != nil {
		upper = append(append([]byte(nil), userPrefix...), end...)
	}
	it, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: append(append([]byte(nil), userPrefix...), start...),
		UpperBound: upper,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("kv: scan: %w", err)
	}
	for it.First(); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
		out = append(out, KV{Key: append([]byte(nil), it.Key()[len(userPrefix):]...), Value: append([]byte(nil), it.Value()...)})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, 0, fmt.Errorf("kv: scan: %w", err)
	}
	return out, applied, nil
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
