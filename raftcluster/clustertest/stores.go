package clustertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/holeycow/holeycow/raftcluster"
)

// NewStores returns in-memory Raft stores for raftcluster.Config.Stores:
// keep the value to restart a node from the same state.
func NewStores() *raftcluster.Stores {
	s := raft.NewInmemStore()
	return &raftcluster.Stores{Log: s, Stable: s, Snap: &memSnapshotStore{}}
}

// memSnapshotStore is an in-memory raft.SnapshotStore that keeps the
// latest snapshot. Unlike raft.InmemSnapshotStore, which makes a snapshot
// the latest as soon as it is created, a snapshot here becomes visible to
// List and Open only when its sink is closed: the leader could otherwise
// send a follower a snapshot still being written (and the race detector
// reports the concurrent write and read), and a canceled one stays
// invisible. Safe for concurrent use.
type memSnapshotStore struct {
	mu     sync.Mutex
	latest *memSnapshot // nil: none yet
}

// memSnapshot is a complete snapshot; never modified once published.
type memSnapshot struct {
	meta raft.SnapshotMeta
	data []byte
}

// memSnapshotSink collects one snapshot until Close publishes it. Used by
// one goroutine (raft's snapshot or install path).
type memSnapshotSink struct {
	store *memSnapshotStore
	meta  raft.SnapshotMeta
	buf   bytes.Buffer
	done  bool
}

var errSnapshotSinkDone = errors.New("clustertest: snapshot sink already closed or canceled")

// Create implements raft.SnapshotStore.
func (s *memSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64,
	configuration raft.Configuration, configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("clustertest: unsupported snapshot version %d", version)
	}
	return &memSnapshotSink{store: s, meta: raft.SnapshotMeta{
		Version:            version,
		ID:                 fmt.Sprintf("%d-%d", term, index),
		Index:              index,
		Term:               term,
		Configuration:      configuration,
		ConfigurationIndex: configurationIndex,
	}}, nil
}

// List implements raft.SnapshotStore: the latest complete snapshot, if any.
func (s *memSnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return []*raft.SnapshotMeta{}, nil
	}
	meta := s.latest.meta
	return []*raft.SnapshotMeta{&meta}, nil
}

// Open implements raft.SnapshotStore.
func (s *memSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil || s.latest.meta.ID != id {
		return nil, nil, fmt.Errorf("clustertest: no snapshot %q", id)
	}
	meta := s.latest.meta
	return &meta, io.NopCloser(bytes.NewReader(s.latest.data)), nil
}

func (k *memSnapshotSink) Write(p []byte) (int, error) {
	if k.done {
		return 0, errSnapshotSinkDone
	}
	return k.buf.Write(p)
}

// Close publishes the snapshot as the store's latest. Closing again does
// nothing (raft closes the sink after an FSMSnapshot's Persist did).
func (k *memSnapshotSink) Close() error {
	if k.done {
		return nil
	}
	k.done = true
	k.meta.Size = int64(k.buf.Len())
	k.store.mu.Lock()
	k.store.latest = &memSnapshot{meta: k.meta, data: k.buf.Bytes()}
	k.store.mu.Unlock()
	return nil
}

func (k *memSnapshotSink) ID() string { return k.meta.ID }

// Cancel drops the snapshot; the store's latest stays what it was.
func (k *memSnapshotSink) Cancel() error {
	k.done = true
	return nil
}
