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

// markBrokenLocked records that the database misses an entry handed to
// Apply (err) and asks the recovery loop to reopen it.
func (r *Replica[D]) markBrokenLocked(err error) {
	r.mu.broken = err
	r.mu.lastTry = time.Now()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// recoverLoop reopens (and catches up) a broken database on its view,
// every RecoverEvery until that succeeds, the view changes or the
// replica shuts down. Recovery must not wait for the next command to
// reach Apply: the requests that would bring one may themselves be
// waiting for the database, or the load may have stopped.
func (r *Replica[D]) recoverLoop() {
	defer r.loopWG.Done()
	t := time.NewTimer(r.cfg.RecoverEvery)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-r.wake:
		case <-t.C:
		}
		next, handOver := r.tryRecover()
		if handOver && r.cfg.Hooks.HandOver != nil {
			r.cfg.Hooks.HandOver(r.life)
		}
		if next > 0 {
			t.Reset(next)
		}
	}
}

// tryRecover makes one recovery attempt if one is due, and returns when
// to come back (0: nothing to do until the next wake) and whether to hand
// the writer role over.
func (r *Replica[D]) tryRecover() (next time.Duration, handOver bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed || r.mu.broken == nil || r.mu.view == nil {
		return 0, false
	}
	due := func() bool {
		h := r.cfg.Hooks.HandOverDue
		return h != nil && IsWriterView(r.mu.view) && h()
	}
	if wait := r.cfg.RecoverEvery - time.Since(r.mu.lastTry); wait > 0 {
		return wait, due()
	}
	if err := r.recoverLocked(); err != nil {
		return r.cfg.RecoverEvery, due()
	}
	return 0, false
}

// recoverLocked reopens the database on the same view; the catch-up
// replays every entry handed to Apply so far.
func (r *Replica[D]) recoverLocked() error {
	r.mu.lastTry = time.Now()
	r.closeLocked()
	if err := r.openLocked(r.life); err != nil {
		r.mu.broken = err
		r.failed("reopening to catch up", err)
		return err
	}
	r.reopens.Add(1)
	return nil
}

// Apply hands committed log entries, in log order, to the database. Each
// run of consecutive commands goes to DB.Apply in one call (at most
// MaxBatch): group commit. For each entry:
//
//   - one that does not decode is Ignored, alike on every member;
//   - a durable marker first flushes the commands before it, then is
//     noted (Hooks.OnDurable) and Applied;
//   - a command that Hooks.Intercept takes over gets its outcome;
//   - if the database is broken, the first command of the call reopens
//     it when due (the catch-up replays what the log has recorded, which
//     excludes this call's entries); a command not applied now is
//     Deferred, for the catch-up of the next opening;
//   - if DB.Apply fails, none of its commands is applied: the database is
//     withdrawn and marked broken, and they are Deferred.
func (r *Replica[D]) Apply(entries []Entry) []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(entries) == 0 {
		return nil
	}
	// lastSeen moves once the call is done: a catch-up inside it must
	// not wait for the log to record this call's entries.
	defer func() { r.mu.lastSeen = max(r.mu.lastSeen, entries[len(entries)-1].Index) }()
	b := &batch[D]{r: r, out: make([]Outcome, len(entries)), mayRecover: true, max: r.cfg.MaxBatch}
	if r.oneByOne.Load() {
		b.max = 1
	}
	for i, en := range entries {
		kind, payload, idx, err := decodeEntry(en.Data)
		switch {
		case err != nil:
			r.cfg.Logger.Warn("replica: ignoring entry", "node", r.cfg.Name, "index", en.Index, "err", err)
		case kind == kindDurable:
			b.flush()
			r.noteDurableLocked(en.Index, idx)
			b.out[i] = Applied
		default:
			if h := r.cfg.Hooks.Intercept; h != nil {
				if o, ok := h(en.Index, r.stateLocked()); ok {
					b.flush()
					if o == Deferred {
						r.mu.lastCmd = en.Index
						r.failAtLocked(fmt.Errorf("%w: the database skips entry %d", ErrNotReady, en.Index))
					}
					b.out[i] = o
					continue
				}
			}
			b.command(i, en.Index, payload)
		}
	}
	b.flush()
	return b.out
}

// batch is one Apply call's state. It runs under r.mu.
type batch[D DB] struct {
	r          *Replica[D]
	out        []Outcome
	run        []Entry // commands not yet applied
	at         []int   // their positions in out
	mayRecover bool    // no command of this call handled yet
	max        int
}

func (b *batch[D]) command(i int, index uint64, payload []byte) {
	r := b.r
	if r.waitingBeforeLocked(index) {
		b.flush() // the state at an index below this one is asked for
		r.serveLocked(index)
	}
	r.mu.lastCmd, r.mu.lastRun = index, index
	mayRecover := b.mayRecover
	b.mayRecover = false
	b.out[i] = Deferred
	if r.mu.broken != nil && r.mu.view != nil {
		if !mayRecover || time.Since(r.mu.lastTry) < r.cfg.RecoverEvery {
			return
		}
		if err := r.recoverLocked(); err != nil {
			return
		}
	}
	if !r.mu.open {
		return // caught up by the next Open
	}
	if index <= r.mu.applied {
		b.out[i] = Applied // the opening's catch-up applied it
		return
	}
	b.run = append(b.run, Entry{Index: index, Data: payload})
	b.at = append(b.at, i)
	if len(b.run) >= b.max {
		b.flush()
	}
}

// flush applies the collected commands in one DB.Apply.
func (b *batch[D]) flush() {
	if len(b.run) == 0 {
		return
	}
	r := b.r
	defer func() { b.run, b.at = b.run[:0], b.at[:0] }()
	n := int64(len(b.run))
	r.batches.Add(1)
	r.batchEntries.Add(n)
	for {
		m := r.maxBatch.Load()
		if n <= m || r.maxBatch.CompareAndSwap(m, n) {
			break
		}
	}
	if err := r.mu.db.Apply(b.run); err != nil {
		// The database now misses these entries: withdraw it from readers
		// until a reopening has caught up.
		r.fails.Add(1)
		r.failedEn.Add(n)
		r.unpublish()
		r.markBrokenLocked(err)
		r.failed(fmt.Sprintf("apply %d..%d", b.run[0].Index, b.run[len(b.run)-1].Index), err)
		return // every command of the run stays Deferred
	}
	r.setAppliedLocked(b.run[len(b.run)-1].Index)
	r.succeeded()
	for _, i := range b.at {
		b.out[i] = Applied
	}
}

// noteDurableLocked records a durable marker proposed at log index at
// for index idx. If no command came between idx and the marker, the
// shared database reflects every entry up to the marker itself.
func (r *Replica[D]) noteDurableLocked(at, idx uint64) {
	d := idx
	if r.mu.lastCmd <= idx {
		d = at
	}
	if h := r.cfg.Hooks.OnDurable; h != nil {
		h(d)
	}
}

// Acquire waits until the database is published and returns it, the view
// it lives on and the release function. The database stays published
// (Close and reopenings wait) until release.
func (r *Replica[D]) Acquire(ctx context.Context) (db D, view vfs.FS, release func(), err error) {
	for {
		r.rw.RLock()
		if r.pubOK {
			return r.pub, r.pubView, r.rw.RUnlock, nil
		}
		ch := r.readyCh
		r.rw.RUnlock()
		select {
		case <-ch:
		case <-r.done:
			return db, nil, nil, ErrClosed
		case <-ctx.Done():
			return db, nil, nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
		}
	}
}

// Published returns the published database without holding it (ok false
// while none is). Use it only with a database that tolerates Close
// concurrently (its calls then fail).
func (r *Replica[D]) Published() (db D, view vfs.FS, ok bool) {
	r.rw.RLock()
	defer r.rw.RUnlock()
	return r.pub, r.pubView, r.pubOK
}

// Ready reports whether the database is published.
func (r *Replica[D]) Ready() bool {
	r.rw.RLock()
	defer r.rw.RUnlock()
	return r.pubOK
}

// Guard lets a read of the database on view proceed: on a copier view
// unless it is invalidated (its lease lapsed: it refuses reads until it
// resets, and an engine may answer from caches without touching the
// view); on a writer view only while the Log's writer Guard passes (a
// deposed writer must not read what its successor may be changing).
// Readers check before and after they read.
func (r *Replica[D]) Guard(ctx context.Context, view vfs.FS) error {
	if iv, ok := view.(interface{ Invalidated() error }); ok {
		if err := iv.Invalidated(); err != nil {
			return NotReady(err)
		}
	}
	rv, ok := view.(interface{ Role() cow.Role })
	if !ok || rv.Role() != cow.RoleWriter {
		return nil
	}
	lg := r.getLog()
	if lg == nil {
		return ErrNotReady
	}
	if err := lg.Guard()(ctx); err != nil {
		return fmt.Errorf("%w: a writer view reads only while it is the writer: %w", ErrNotReady, err)
	}
	return nil
}

// NotReady wraps an invalidated view's refusal (cow.ErrInvalidated) with
// ErrNotReady; other errors pass unchanged.
func NotReady(err error) error {
	if err != nil && errors.Is(err, cow.ErrInvalidated) && !errors.Is(err, ErrNotReady) {
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	return err
}

// DurableIndex returns, on the writer, a log index such that the shared
// database durably reflects every entry up to it (it syncs first); ok is
// false elsewhere or while the database is not current.
func (r *Replica[D]) DurableIndex() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mu.open || r.mu.broken != nil || !IsWriterView(r.mu.view) || !r.Ready() {
		return 0, false
	}
	lg := r.getLog()
	if lg == nil {
		return 0, false
	}
	// Every entry up to the log's applied index has been handed to Apply
	// (we hold the apply lock) and applied, since the database is current.
	d := max(lg.AppliedIndex(), r.mu.lastSeen)
	if err := r.mu.db.Sync(); err != nil {
		if h := r.cfg.Hooks.SyncFailed; h != nil {
			h(err)
		} else {
			r.cfg.Logger.Warn("replica: sync for the durable index failed", "node", r.cfg.Name, "err", err)
		}
		return 0, false
	}
	return d, true
}

// stateLocked returns the state; r.mu is held.
func (r *Replica[D]) stateLocked() State[D] {
	st := State[D]{View: r.mu.view, Applied: r.mu.applied, LastCommand: r.mu.lastCmd}
	if r.mu.open && r.mu.broken == nil {
		st.DB, st.Open, st.Ready = r.mu.db, true, r.Ready()
	}
	return st
}

// Locked runs fn under the apply lock with the replica's state. fn must
// not call the Replica.
func (r *Replica[D]) Locked(fn func(st State[D])) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.stateLocked())
}

// LastCommand returns the highest command index handed to Apply.
func (r *Replica[D]) LastCommand() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.lastCmd
}

// CatchUpTo replays the logged commands after the stored index up to
// index to into the open database (a read replica moving forward), then,
// if it succeeded and then is not nil, runs then under the same hold of
// the apply lock (see Locked).
func (r *Replica[D]) CatchUpTo(to uint64, then func(st State[D])) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.catchUpToLocked(to); err != nil {
		return err
	}
	if then != nil {
		then(r.stateLocked())
	}
	return nil
}

func (r *Replica[D]) catchUpToLocked(to uint64) error {
	if !r.mu.open || r.mu.broken != nil {
		return fmt.Errorf("%w: database reopening", ErrNotReady)
	}
	lg := r.getLog()
	if lg == nil {
		return ErrNotReady
	}
	if r.mu.applied >= to {
		return nil
	}
	if err := r.replayLocked(lg, r.mu.applied+1, to); err != nil {
		return fmt.Errorf("replica: %s: replay to %d: %w", r.cfg.Name, to, err)
	}
	if got := r.mu.applied; got < min(to, r.mu.lastCmd) {
		return fmt.Errorf("%w: replay to %d reached %d only", ErrNotReady, to, got)
	}
	return nil
}

// Check verifies the replica's invariants and, if it is a Checker, the
// open database's. A copier view whose lease lapsed refuses the reads
// that would verify them: nothing to verify until it resets.
func (r *Replica[D]) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mu.open || r.mu.broken != nil {
		return nil // closed, or waiting to be reopened
	}
	if r.mu.lastRun > r.mu.applied && r.Ready() {
		return fmt.Errorf("replica: %s: entry %d handed over but the database is at %d", r.cfg.Name, r.mu.lastRun, r.mu.applied)
	}
	if c, ok := any(r.mu.db).(Checker); ok {
		if err := c.Check(); err != nil && !errors.Is(err, cow.ErrInvalidated) {
			return err
		}
	}
	return nil
}

// Stats returns the replica's counters.
func (r *Replica[D]) Stats() Stats {
	s := Stats{Ready: r.Ready(), Reopens: r.reopens.Load(), Batches: r.batches.Load(), BatchEntries: r.batchEntries.Load(),
		MaxBatch: r.maxBatch.Load(), Failures: r.fails.Load(), FailedEntries: r.failedEn.Load()}
	if s.Ready {
		s.Applied = r.applied.Load()
	}
	return s
}

// Hold takes the apply lock until release: nothing applies, opens or
// closes meanwhile. With withdraw it also withdraws the database from
// readers, as a reopening does, and release publishes it again. For tests
// and maintenance that must stop the replica in place.
func (r *Replica[D]) Hold(withdraw bool) (release func()) {
	r.mu.Lock()
	r.rw.Lock()
	db, view, ok := r.pub, r.pubView, r.pubOK
	r.rw.Unlock()
	if withdraw {
		r.unpublish()
	}
	return func() {
		if withdraw && ok {
			r.rw.Lock()
			r.pub, r.pubOK, r.pubView = db, true, view
			close(r.readyCh)
			r.rw.Unlock()
		}
		r.mu.Unlock()
	}
}

// atReq is an At call waiting for Apply to reach its index.
type atReq[D DB] struct {
	idx  uint64
	fn   func(st State[D]) error
	err  error
	done chan struct{} // closed once served
}

// At runs fn under the apply lock with the database as it is after every
// entry up to index and before any later one: at once if the log has
// applied index and no later command was handed over, otherwise just
// before Apply handles the first command past index (or once the log has
// applied index, if none comes). It fails with ErrPassed if a command
// past index was already handed over, with ErrNotReady if the database
// skips entries meanwhile (Hooks.Intercept), and with ErrClosed at
// Shutdown. fn must check st.Open and st.Ready itself.
func (r *Replica[D]) At(ctx context.Context, index uint64, fn func(st State[D]) error) error {
	lg := r.getLog()
	if lg == nil {
		return ErrNotReady
	}
	p := &atReq[D]{idx: index, fn: fn, done: make(chan struct{})}
	r.mu.Lock()
	switch {
	case r.mu.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.mu.lastCmd > index:
		last := r.mu.lastCmd
		r.mu.Unlock()
		return fmt.Errorf("%w: asked %d, applied %d", ErrPassed, index, last)
	case lg.AppliedIndex() >= index:
		defer r.mu.Unlock()
		return fn(r.stateLocked())
	}
	r.mu.at = append(r.mu.at, p)
	r.mu.Unlock()
	werr := lg.WaitApplied(ctx, index)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-p.done:
		return p.err
	default:
	}
	for i, q := range r.mu.at {
		if q == p {
			r.mu.at = append(r.mu.at[:i], r.mu.at[i+1:]...)
			break
		}
	}
	if werr != nil {
		return werr
	}
	return fn(r.stateLocked())
}

// waitingBeforeLocked reports whether an At call waits for an index below
// index.
func (r *Replica[D]) waitingBeforeLocked(index uint64) bool {
	for _, p := range r.mu.at {
		if p.idx < index {
			return true
		}
	}
	return false
}

// serveLocked serves the At calls waiting for an index below index.
func (r *Replica[D]) serveLocked(index uint64) {
	keep := r.mu.at[:0]
	for _, p := range r.mu.at {
		if p.idx < index {
			p.err = p.fn(r.stateLocked())
			close(p.done)
			continue
		}
		keep = append(keep, p)
	}
	r.mu.at = keep
}

// failAtLocked fails every waiting At call with err.
func (r *Replica[D]) failAtLocked(err error) {
	for _, p := range r.mu.at {
		p.err = err
		close(p.done)
	}
	r.mu.at = nil
}
