package replicatest

import (
	"context"
	"fmt"
	"sync"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
)

// Log is an in-memory replica.Log: the test appends entries and hands
// them to a Replica with Feed.
//
// Concurrency: safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	entries [][]byte // entries[i] holds index i+1
	first   uint64   // lowest index held (1 until Compact)
	applied uint64
	changed chan struct{} // closed when applied moves
	guard   func(ctx context.Context) error
	waiting int // WaitApplied calls in progress
}

// NewLog returns an empty log whose Guard passes.
func NewLog() *Log { return &Log{first: 1, changed: make(chan struct{})} }

// Append adds entries and returns the index of the first.
func (l *Log) Append(data ...[]byte) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, data...)
	return uint64(len(l.entries)-len(data)) + 1
}

// Len returns the index of the last entry.
func (l *Log) Len() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

// Feed hands the entries from index from to index to to r in calls of at
// most batch entries, marking each call's entries applied after it
// returns (as raftcluster does), and returns the outcomes.
func (l *Log) Feed(r interface {
	Apply([]replica.Entry) []replica.Outcome
}, from, to uint64, batch int) []replica.Outcome {
	var out []replica.Outcome
	for i := from; i <= to; {
		var es []replica.Entry
		l.mu.Lock()
		for ; i <= to && len(es) < batch; i++ {
			es = append(es, replica.Entry{Index: i, Data: l.entries[i-1]})
		}
		l.mu.Unlock()
		out = append(out, r.Apply(es)...)
		l.SetApplied(es[len(es)-1].Index)
	}
	return out
}

// SetApplied sets the applied index.
func (l *Log) SetApplied(i uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i > l.applied {
		l.applied = i
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// Compact drops the entries below index first.
func (l *Log) Compact(first uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.first = max(l.first, first)
}

// SetGuard sets what Guard returns (nil: a guard that passes).
func (l *Log) SetGuard(g func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.guard = g
}

// ReadLog implements replica.Log.
func (l *Log) ReadLog(from uint64, fn func(index uint64, cmd []byte) error) error {
	from = max(from, 1)
	for i := from; ; i++ {
		l.mu.Lock()
		if i > l.applied {
			l.mu.Unlock()
			return nil
		}
		if i < l.first {
			l.mu.Unlock()
			return fmt.Errorf("replicatest: %w: index %d", raftcluster.ErrCompacted, i)
		}
		cmd := l.entries[i-1]
		l.mu.Unlock()
		if err := fn(i, cmd); err != nil {
			return err
		}
	}
}

// AppliedIndex implements replica.Log.
func (l *Log) AppliedIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// Waiting returns the number of WaitApplied calls in progress.
func (l *Log) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting
}

// WaitApplied implements replica.Log.
func (l *Log) WaitApplied(ctx context.Context, index uint64) error {
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiting--
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		cur, ch := l.applied, l.changed
		l.mu.Unlock()
		if cur >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Guard implements replica.Log.
func (l *Log) Guard() func(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.guard != nil {
		return l.guard
	}
	return func(context.Context) error { return nil }
}
