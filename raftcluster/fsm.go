package raftcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// ApplyFunc is the application's state machine. Every node calls it for
// every application command, in log order, exactly once per process
// lifetime per index (after a restart, entries after the last Raft
// snapshot are handed over again: the application must skip indices it has
// already applied durably). Its result is returned by Node.Apply on the
// node that proposed the command. It runs on Raft's FSM goroutine: it must
// not call Node.Apply, Barrier or ReadIndex (that would deadlock).
type ApplyFunc func(index uint64, cmd []byte) []byte

// Entry is one application command with its log index.
type Entry struct {
	Index uint64
	Cmd   []byte
}

// ApplyBatchFunc is ApplyFunc for a run of consecutive application
// commands (group commit): entries are in log order, without gaps between
// them other than cluster entries, and the result holds one response per
// entry (missing ones are nil). The same contract as ApplyFunc holds for
// each entry. Raft hands over at most MaxAppendEntries (64) entries at a
// time; a run stops at every cluster command, which is applied between
// two calls.
type ApplyBatchFunc func(entries []Entry) [][]byte

// appResult is the FSM response to an application command.
type appResult struct{ resp []byte }

// fsm is the Raft state machine: the cluster State plus the application's
// commands handed to ApplyFunc.
//
// Concurrency: Apply, Snapshot and Restore are called by Raft from one
// goroutine; state, waitApplied and subscribe are safe for concurrent use.
type fsm struct {
	app              ApplyFunc
	appBatch         ApplyBatchFunc // if set, used instead of app
	compactableIndex func() uint64
	hub              *hub
	onChange         func() // called after every control change (set before Raft starts)
	onRestore        func(index uint64)
	applied          atomic.Uint64

	// mu guards st and appliedCh.
	mu struct {
		sync.Mutex
		st        State
		appliedCh chan struct{} // closed and replaced after each apply
	}
}

var (
	_ raft.BatchingFSM = (*fsm)(nil)
	_ raft.FSM         = (*fsm)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

func newFSM(app ApplyFunc, batch ApplyBatchFunc, compactable func() uint64, h *hub) *fsm {
	f := &fsm{app: app, appBatch: batch, compactableIndex: compactable, hub: h}
	f.mu.appliedCh = make(chan struct{})
	return f
}

func (f *fsm) poke() {
	if f.onChange != nil {
		f.onChange()
	}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	c, err := decodeCommand(l.Data)
	if err != nil {
		f.advance(l.Index)
		return err
	}
	if c.Kind == kindApp {
		var resp []byte
		if f.app != nil {
			resp = f.app(l.Index, c.App)
		}
		f.advance(l.Index)
		return appResult{resp: resp}
	}
	f.mu.Lock()
	evs, err := f.mu.st.apply(l.Index, c)
	f.mu.st.Index = l.Index
	for _, ev := range evs {
		f.hub.publish(ev)
	}
	f.applied.Store(l.Index)
	close(f.mu.appliedCh)
	f.mu.appliedCh = make(chan struct{})
	f.mu.Unlock()
	f.poke()
	return err
}

// ApplyBatch implements raft.BatchingFSM: runs of application commands
// go to appBatch in one call (or to app one by one), cluster commands are
// applied one at a time between them, other log types are skipped.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var run []Entry
	var at []int // positions in logs of run's entries
	flush := func() {
		if len(run) == 0 {
			return
		}
		resps := f.appBatch(run)
		for j, i := range at {
			var r []byte
			if j < len(resps) {
				r = resps[j]
			}
			out[i] = appResult{resp: r}
		}
		f.advance(run[len(run)-1].Index)
		run, at = run[:0], at[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if f.appBatch != nil {
			if c, err := decodeCommand(l.Data); err == nil && c.Kind == kindApp {
				run = append(run, Entry{Index: l.Index, Cmd: c.App})
				at = append(at, i)
				continue
			}
		}
		flush()
		out[i] = f.Apply(l)
	}
	flush()
	return out
}

func (f *fsm) advance(index uint64) {
	f.mu.Lock()
	f.mu.st.Index = index
	f.applied.Store(index)
	close(f.mu.appliedCh)
	f.mu.appliedCh = make(chan struct{})
	f.mu.Unlock()
}

// state returns a deep copy of the cluster state.
func (f *fsm) state() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.st.Clone()
}

// appliedChan returns the applied index and a channel closed at the next
// apply.
func (f *fsm) appliedChan() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied.Load(), f.mu.appliedCh
}

func (f *fsm) subscribe(buf int) *Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hub.add(buf, f.mu.st.initialEvents())
}

// errSnapshotDeferred is returned by Snapshot while the application has not
// made the applied index durable: the log must not be compacted past it.
var errSnapshotDeferred = errors.New("raftcluster: snapshot deferred until the application's durable index catches up")

// Snapshot implements raft.FSM. The snapshot is the cluster State only.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	st := f.state()
	if f.compactableIndex != nil && f.compactableIndex() < st.Index {
		return nil, errSnapshotDeferred
	}
	b, err := encodeSnapshot(st)
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: b}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("raftcluster: restore: %w", err)
	}
	st, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.mu.st
	f.mu.st = st
	f.applied.Store(st.Index)
	close(f.mu.appliedCh)
	f.mu.appliedCh = make(chan struct{})
	for _, ev := range restoreEvents(old, st) {
		f.hub.publish(ev)
	}
	f.mu.Unlock()
	if f.onRestore != nil {
		f.onRestore(st.Index)
	}
	f.poke()
	return nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

const (
	snapshotVersion = 1
	// maxSnapshotSize bounds a snapshot on restore (the state is small).
	maxSnapshotSize = 64 << 20
)

type snapshotFile struct {
	Version int   `json:"version"`
	State   State `json:"state"`
}

func encodeSnapshot(st State) ([]byte, error) {
	return json.Marshal(snapshotFile{Version: snapshotVersion, State: st})
}

func decodeSnapshot(b []byte) (State, error) {
	if len(b) > maxSnapshotSize {
		return State{}, fmt.Errorf("%w: snapshot larger than %d bytes", ErrBadCommand, maxSnapshotSize)
	}
	var sf snapshotFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return State{}, fmt.Errorf("%w: snapshot: %v", ErrBadCommand, err)
	}
	if sf.Version != snapshotVersion {
		return State{}, fmt.Errorf("%w: snapshot version %d", ErrBadCommand, sf.Version)
	}
	if err := sf.State.Check(); err != nil {
		return State{}, fmt.Errorf("%w: snapshot state: %v", ErrBadCommand, err)
	}
	return sf.State, nil
}

// writer returns the current writer and epoch.
func (f *fsm) writer() (string, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.st.Writer, f.mu.st.Epoch
}

// restoreEvents tells subscribers what changed between old and st when a
// snapshot replaces the state, as events of the restored index: members
// that left or joined, exclusions and rejoins, promotions and demotions,
// the reset slot, the writer.
func restoreEvents(old, st State) []Event {
	var out []Event
	ev := func(k EventKind, m Member) {
		out = append(out, Event{Kind: k, Index: st.Index, Epoch: st.Epoch, Member: m})
	}
	for _, m := range old.Members {
		if _, ok := st.Member(m.ID); !ok {
			ev(EventMemberLeft, m)
		}
	}
	for _, m := range st.Members {
		o, had := old.Member(m.ID)
		if !had {
			ev(EventMemberJoined, m)
			o = Member{Suffrage: Nonvoter}
		}
		switch {
		case m.Excluded && (!o.Excluded || o.ExcludedIndex != m.ExcludedIndex):
			ev(EventMemberExcluded, m)
		case !m.Excluded && o.Excluded:
			ev(EventMemberRejoined, m)
		}
		switch {
		case m.Suffrage == Voter && o.Suffrage != Voter:
			ev(EventMemberPromoted, m)
		case m.Suffrage != Voter && o.Suffrage == Voter:
			ev(EventMemberDemoted, m)
		}
	}
	if old.Resetting != "" && (old.Resetting != st.Resetting || old.ResettingIndex != st.ResettingIndex) {
		if m, ok := st.Member(old.Resetting); ok && !m.Excluded {
			ev(EventResetDone, m)
		}
	}
	if r, ok := st.Member(st.Resetting); ok && (old.Resetting != st.Resetting || old.ResettingIndex != st.ResettingIndex) {
		ev(EventResetStarted, r)
	}
	if w, ok := st.Member(st.Writer); ok && (st.Epoch != old.Epoch || st.Writer != old.Writer) {
		ev(EventWriterChanged, w)
	}
	return out
}
