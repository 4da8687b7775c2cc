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

// ReplicaEngine is the key-value engine as a raftcluster/replica engine:
// Pebble on the view, each batch of commands one synced Pebble batch
// holding their writes and the applied index. A replica.Replica around it
// does the catch-up, recovery, publication and group commit that Engine
// does by hand.
type ReplicaEngine struct{}

// ReplicaDB is an open ReplicaEngine database.
//
// Concurrency: the replica calls Apply, Sync and Close one at a time;
// Get and Scan may run beside them (Pebble's snapshot isolation).
type ReplicaDB struct {
	db *pebble.DB
}

var _ replica.Engine[*ReplicaDB] = ReplicaEngine{}

// Open opens Pebble in Dir on view.
func (ReplicaEngine) Open(view vfs.FS) (*ReplicaDB, error) {
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
		return fmt.Errorf("kv: apply %d..%d: %w", entries[0].Index, last, err)
	}
	return nil
}

// Sync does nothing: every batch is committed synced.
func (d *ReplicaDB) Sync() error { return nil }

// Close closes Pebble.
func (d *ReplicaDB) Close() error {
	err := closeDB(d.db)
	var fatal *pebbleFatal
	if errors.As(err, &fatal) {
		return nil // the failed commit, reported again; the replica knows
	}
	return err
}

// Get returns the value of key (nil, nil if absent).
func (d *ReplicaDB) Get(key []byte) ([]byte, error) {
	v, closer, err := d.db.Get(append(append([]byte(nil), userPrefix...), key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv: get: %w", err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Scan returns every key and value, in key order.
func (d *ReplicaDB) Scan() ([]KV, error) {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: userPrefix, UpperBound: userEnd})
	if err != nil {
		return nil, fmt.Errorf("kv: scan: %w", err)
	}
	var out []KV
	for it.First(); it.Valid(); it.Next() {
		out = append(out, KV{Key: append([]byte(nil), it.Key()[len(userPrefix):]...), Value: append([]byte(nil), it.Value()...)})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("kv: scan: %w", err)
	}
	return out, nil
}
