package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// Entry is one log entry. Replica.Apply takes entries as the log holds
// them (framed by EncodeCommand or EncodeDurable); DB.Apply takes the
// commands only, unframed, with their log indexes.
type Entry struct {
	Index uint64
	Data  []byte
}

// DB is an engine's open database on one view. The replica calls one
// method at a time (under its apply lock); see the package doc for what
// each must guarantee.
type DB interface {
	// Applied returns the log index stored in the database: every entry
	// up to it, and none after, is reflected (0 for a new database).
	Applied() (uint64, error)
	// Apply applies the commands in one atomic write, together with the
	// index of the last one. Indexes increase and are all above
	// Applied(). On error nothing of the batch may survive a reopening.
	Apply(entries []Entry) error
	// Sync makes every applied batch durable on the view.
	Sync() error
	// Close closes the database; it is not used again.
	Close() error
}

// Engine opens an engine's database on a view. Every file the database
// touches must be on view.
type Engine[D DB] interface {
	Open(view vfs.FS) (D, error)
}

// EngineFunc adapts a function to Engine.
type EngineFunc[D DB] func(view vfs.FS) (D, error)

// Open calls f.
func (f EngineFunc[D]) Open(view vfs.FS) (D, error) { return f(view) }

// Interrupter is implemented by a DB whose Apply can be canceled: after
// Interrupt, the Apply in progress and every later one fail promptly. It
// may be called concurrently with any other method.
type Interrupter interface{ Interrupt() }

// Checker is implemented by a DB that can verify its own invariants.
type Checker interface{ Check() error }

// Log is what a replica needs of the replicated log; *raftcluster.Node
// implements it.
type Log interface {
	// ReadLog calls fn for every entry from index from up to the applied
	// index, in order; it fails with raftcluster.ErrCompacted for an
	// entry the log no longer holds.
	ReadLog(from uint64, fn func(index uint64, cmd []byte) error) error
	// AppliedIndex is the index of the last entry handed to apply.
	AppliedIndex() uint64
	// WaitApplied waits until AppliedIndex() >= index.
	WaitApplied(ctx context.Context, index uint64) error
	// Guard returns the writer's fencing check: nil while this member is
	// the writer and may mutate shared storage.
	Guard() func(ctx context.Context) error
}

var _ Log = (*raftcluster.Node)(nil)

// Outcome is what Apply did with one entry.
type Outcome uint8

const (
	// Ignored: not a replica entry; every member ignores it alike.
	Ignored Outcome = iota
	// Applied: the command is in the database, or the marker was noted.
	Applied
	// Deferred: not applied now (the database is reopening, closed, or
	// Hooks.Skip said so); the catch-up of the next opening applies it.
	Deferred
)

// State is what a hook or Locked sees of the replica, under the apply
// lock.
type State[D DB] struct {
	View vfs.FS // the current view (nil when closed)
	DB   D      // the open database, if Open
	// Open: a database is open and not broken; Ready: it is published.
	Open, Ready bool
	// Applied is the index stored in DB; LastCommand the highest command
	// index handed to Apply.
	Applied, LastCommand uint64
}

// Hooks lets an adapter follow and steer the replica. Every hook is
// optional and, unless said otherwise, runs under the apply lock: it must
// not call the Replica.
type Hooks[D DB] struct {
	// OnDurable is told of each durable marker as it applies: the shared
	// database durably reflects every entry up to index.
	OnDurable func(index uint64)
	// NeedReset asks for a reset of this member's copier view: its
	// database misses entries that the log no longer holds.
	NeedReset func()
	// Intercept, asked for each command before it is collected, may take
	// it over (ok true): the commands collected before it are applied
	// first, and it gets outcome. Deferred means the database misses it
	// (a later catch-up applies it); Applied that it needs no applying.
	Intercept func(index uint64, st State[D]) (outcome Outcome, ok bool)
	// Failed reports a failed apply or reopening; writer says whether the
	// view is a writer's. Succeeded reports a successful one.
	Failed    func(what string, err error, writer bool)
	Succeeded func()
	// ViewClosed reports that the view was closed on purpose: earlier
	// failures no longer matter.
	ViewClosed func()
	// SyncFailed reports a failed Sync of DurableIndex.
	SyncFailed func(err error)
	// HandOverDue is asked while recovery keeps failing on the writer
	// view; if it returns true, HandOver runs (outside the apply lock).
	HandOverDue func() bool
	HandOver    func(ctx context.Context)
}

// Config configures a Replica.
type Config[D DB] struct {
	// Engine opens the database on each view. Required.
	Engine Engine[D]
	// Name names the replica in logs and errors (the member's ID).
	Name string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MaxBatch bounds the commands of one DB.Apply (default 64).
	MaxBatch int
	// RecoverEvery bounds how often a broken database reopens (default
	// 500ms); CatchUpTimeout bounds one catch-up (default 30s).
	RecoverEvery, CatchUpTimeout time.Duration
	// StaleCopier says that a copier's database is older than shared
	// storage whenever it is not gapped too (a read replica that applies
	// nothing as entries commit): DropGapView drops every copier view.
	StaleCopier bool
	Hooks       Hooks[D]
}

// Stats are a replica's counters.
type Stats struct {
	// Applied is the index stored in the published database (0: none).
	Applied uint64
	Ready   bool
	// Reopens counts opens after the first.
	Reopens int64
	// Batches, BatchEntries, MaxBatch: DB.Apply calls of the apply path
	// (catch-ups not counted), the commands in them, the largest.
	Batches, BatchEntries, MaxBatch int64
	// Failures, FailedEntries: the calls that failed, and their commands.
	Failures, FailedEntries int64
}

// Replica runs an engine's database as a member of the cluster (see the
// package doc).
//
// Concurrency: safe for concurrent use. Apply, Open, Close, DurableIndex,
// OnRestore, DropGapView, Check, Locked, CatchUpTo, At (before and after
// its wait), Hold and the recovery loop serialize on mu (the apply lock);
// At's function and the hooks run under it. Readers go through Acquire, which takes rw shared;
// publishing and withdrawing take rw exclusively, after mu (lock order
// mu, rw).
type Replica[D DB] struct {
	cfg  Config[D]
	logp atomic.Pointer[logRef]

	mu struct {
		sync.Mutex
		view     vfs.FS
		db       D
		open     bool
		applied  uint64 // index stored in db
		opens    int64
		lastSeen uint64 // highest entry index handed to Apply (set once the call is done)
		lastCmd  uint64 // highest command index handed to Apply
		lastRun  uint64 // highest command index handed to Apply and not skipped
		broken   error  // the last apply failed: reopen and catch up
		lastTry  time.Time
		closed   bool
		// gap: the database misses entries the log may no longer hold;
		// cleared by a catch-up that succeeds and when the view changes.
		gap bool
		// at: the At calls waiting for Apply to reach their index.
		at []*atReq[D]
	}

	rw      sync.RWMutex
	pubOK   bool
	pub     D
	pubView vfs.FS
	readyCh chan struct{}

	applied atomic.Uint64
	done    chan struct{}
	wake    chan struct{}
	loopWG  sync.WaitGroup
	life    context.Context
	endLife context.CancelFunc
	cur     atomic.Pointer[interrupter]
	halted  atomic.Bool

	oneByOne                                                  atomic.Bool
	reopens, batches, batchEntries, maxBatch, fails, failedEn atomic.Int64
}

type logRef struct{ Log }
type interrupter struct{ Interrupter }

// New returns a replica with no view; its recovery loop runs until
// Shutdown.
func New[D DB](cfg Config[D]) *Replica[D] {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 64
	}
	if cfg.RecoverEvery <= 0 {
		cfg.RecoverEvery = 500 * time.Millisecond
	}
	if cfg.CatchUpTimeout <= 0 {
		cfg.CatchUpTimeout = 30 * time.Second
	}
	r := &Replica[D]{cfg: cfg, readyCh: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	r.life, r.endLife = context.WithCancel(context.Background())
	r.loopWG.Add(1)
	go r.recoverLoop()
	return r
}

// SetLog attaches the log. Open waits for it.
func (r *Replica[D]) SetLog(l Log) { r.logp.Store(&logRef{l}) }

func (r *Replica[D]) getLog() Log {
	if p := r.logp.Load(); p != nil {
		return p.Log
	}
	return nil
}

// SetGroupCommit turns group commit on (the default) or off (one DB.Apply
// per command).
func (r *Replica[D]) SetGroupCommit(on bool) { r.oneByOne.Store(!on) }

// IsWriterView reports whether view is a writer's: shared storage
// itself. A view without a cow role is taken as shared storage.
func IsWriterView(view vfs.FS) bool {
	if view == nil {
		return false
	}
	r, ok := view.(interface{ Role() cow.Role })
	return !ok || r.Role() == cow.RoleWriter
}

// FreshView reports whether view shows shared storage as it is: a
// writer view, or a copier view with an empty overlay.
func FreshView(view vfs.FS) bool {
	if v, ok := view.(*cow.View); ok {
		st := v.Stats()
		return v.Role() == cow.RoleWriter || st.OverlayFiles == 0 && st.OverlayBlocks == 0
	}
	return IsWriterView(view)
}

func (r *Replica[D]) failed(what string, err error) {
	if h := r.cfg.Hooks.Failed; h != nil && !r.halted.Load() {
		h(what, err, IsWriterView(r.mu.view))
	}
}

func (r *Replica[D]) succeeded() {
	if h := r.cfg.Hooks.Succeeded; h != nil {
		h()
	}
}

// Open opens the database on view, catches up from the log and
// publishes it. A database open on another view is closed first.
func (r *Replica[D]) Open(ctx context.Context, view vfs.FS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return ErrClosed
	}
	if r.mu.open {
		r.closeLocked()
	}
	r.mu.view, r.mu.gap = view, false
	if r.mu.opens > 0 {
		r.reopens.Add(1)
	}
	return r.openLocked(ctx)
}

// openLocked opens the database on r.mu.view and catches up.
func (r *Replica[D]) openLocked(ctx context.Context) error {
	if r.halted.Load() {
		return ErrClosed
	}
	r.mu.opens++
	fresh := FreshView(r.mu.view)
	db, err := r.cfg.Engine.Open(r.mu.view)
	if err != nil {
		return fmt.Errorf("replica: %s: open: %w: %w", r.cfg.Name, ErrEngine, err)
	}
	applied, err := db.Applied()
	if err != nil {
		db.Close()
		return fmt.Errorf("replica: %s: stored index: %w: %w", r.cfg.Name, ErrEngine, err)
	}
	r.mu.db, r.mu.open, r.mu.applied, r.mu.broken = db, true, applied, nil
	if in, ok := any(db).(Interrupter); ok {
		r.cur.Store(&interrupter{in})
		if r.halted.Load() {
			in.Interrupt() // Interrupt ran before cur was set
		}
	}
	if err := r.catchUpLocked(ctx, fresh); err != nil {
		r.noteCatchUpErrLocked(err)
		r.dropLocked()
		return fmt.Errorf("replica: %s: catch up: %w", r.cfg.Name, err)
	}
	r.mu.gap = false
	r.rw.Lock()
	r.pub, r.pubOK, r.pubView = db, true, r.mu.view
	r.applied.Store(r.mu.applied)
	close(r.readyCh)
	r.rw.Unlock()
	r.succeeded()
	r.cfg.Logger.Debug("replica: database open", "node", r.cfg.Name, "applied", r.mu.applied)
	return nil
}

// catchUpLocked replays the log from the index stored in the database up
// to every entry already handed to Apply.
//
// fresh says that the database is shared storage's as it is now. Such a
// database reflects every entry that any member compacted away
// (compaction follows the writer's durable markers), so a log that starts
// after its stored index lost only entries that did not change it: the
// replay starts at the log's first entry. A copier's own, older database
// has no such guarantee: raftcluster.ErrCompacted stands, and the member
// must reset.
func (r *Replica[D]) catchUpLocked(ctx context.Context, fresh bool) error {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.CatchUpTimeout)
	defer cancel()
	lg, err := r.waitLog(wctx)
	if err != nil {
		return err
	}
	// Apply for lastSeen has returned (we hold mu); let the log record it.
	if err := lg.WaitApplied(wctx, r.mu.lastSeen); err != nil {
		return err
	}
	from := r.mu.applied + 1
	if fresh {
		from = FirstLogIndex(lg, from)
	}
	return r.replayLocked(lg, from, 0)
}

// replayLocked applies the logged commands from index from up to to (0:
// every entry the log has applied) in batches of MaxBatch.
func (r *Replica[D]) replayLocked(lg Log, from, to uint64) error {
	var run []Entry
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := r.mu.db.Apply(run)
		if err == nil {
			r.setAppliedLocked(run[len(run)-1].Index)
		}
		run = run[:0]
		return err
	}
	err := lg.ReadLog(from, func(index uint64, cmd []byte) error {
		if to > 0 && index > to {
			return errStop
		}
		kind, payload, idx, err := decodeEntry(cmd)
		switch {
		case err != nil:
			return nil // not ours: every member ignores it alike
		case kind == kindDurable:
			if err := flush(); err != nil {
				return err
			}
			r.noteDurableLocked(index, idx)
			return nil
		case index <= r.mu.applied:
			return nil
		}
		r.mu.lastCmd = max(r.mu.lastCmd, index)
		run = append(run, Entry{Index: index, Data: payload})
		if len(run) >= r.cfg.MaxBatch {
			return flush()
		}
		return nil
	})
	if err == nil || errors.Is(err, errStop) {
		err = flush()
	}
	return err
}

// errStop ends a ReadLog early.
var errStop = errors.New("replica: stop")

func (r *Replica[D]) setAppliedLocked(idx uint64) {
	r.mu.applied = idx
	r.applied.Store(idx)
}

// waitLog returns the log, waiting briefly for SetLog (the node may still
// be wiring itself).
func (r *Replica[D]) waitLog(ctx context.Context) (Log, error) {
	if lg := r.getLog(); lg != nil {
		return lg, nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: log not attached: %w", ErrNotReady, ctx.Err())
		case <-r.done:
			return nil, ErrClosed
		case <-t.C:
		}
		if lg := r.getLog(); lg != nil {
			return lg, nil
		}
	}
}

// FirstLogIndex returns the smallest index >= from that lg still holds
// (from itself if it is there; the applied index + 1 if nothing from on
// is). ReadLog fails with ErrCompacted exactly below the log's first
// index, so a binary search finds it.
func FirstLogIndex(lg Log, from uint64) uint64 {
	present := func(i uint64) bool {
		err := lg.ReadLog(i, func(uint64, []byte) error { return errStop })
		return !errors.Is(err, raftcluster.ErrCompacted)
	}
	if present(from) {
		return from
	}
	lo, hi := from, lg.AppliedIndex()+1 // lo absent; hi treated as present
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if present(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// Close withdraws and closes the database: the view goes away.
func (r *Replica[D]) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Closed on purpose: no recovery on the old view, and its failures
	// no longer matter.
	r.mu.view, r.mu.broken, r.mu.gap = nil, nil, false
	if h := r.cfg.Hooks.ViewClosed; h != nil {
		h()
	}
	return r.closeLocked()
}

// unpublish withdraws the database from readers (they wait), once the
// readers in progress are done.
func (r *Replica[D]) unpublish() {
	r.rw.Lock()
	if r.pubOK {
		var zero D
		r.pub, r.pubOK, r.pubView = zero, false, nil
		r.readyCh = make(chan struct{})
	}
	r.rw.Unlock()
}

func (r *Replica[D]) closeLocked() error {
	r.unpublish()
	return r.dropLocked()
}

// dropLocked closes the open database (not published).
func (r *Replica[D]) dropLocked() error {
	if !r.mu.open {
		return nil
	}
	db := r.mu.db
	var zero D
	r.mu.db, r.mu.open = zero, false
	r.cur.Store(nil)
	return db.Close()
}

// Interrupt stops the apply in progress, if any, and every later one,
// without waiting for the apply lock: the member is shutting down.
func (r *Replica[D]) Interrupt() {
	r.halted.Store(true)
	if in := r.cur.Load(); in != nil {
		in.Interrupt()
	}
}

// Shutdown closes the database for good and waits for the recovery loop.
func (r *Replica[D]) Shutdown() error {
	r.mu.Lock()
	if r.mu.closed {
		r.mu.Unlock()
		return nil
	}
	r.mu.closed = true
	close(r.done)
	r.endLife()
	err := r.closeLocked()
	r.failAtLocked(ErrClosed)
	r.mu.Unlock()
	r.loopWG.Wait()
	return err
}
