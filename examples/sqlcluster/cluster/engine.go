package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// PageSize is the SQLite page size, and the cow block size, of every
// database this package opens.
const PageSize = 4096

// recoverEvery bounds how often a broken engine tries to reopen itself
// from the apply path.
const recoverEvery = 500 * time.Millisecond

// maxResults bounds the results kept for Execute callers.
const maxResults = 4096

// engine is a node's SQLite database on its current view, fed by the
// Raft application callback, reopened (and caught up from the log) by the
// Storage whenever the view changes.
//
// Concurrency: applyBatch, Open, Close, checksumAt, the durable-index
// computation and recoverLoop's reopenings serialize on mu (the apply
// lock). Readers go through
// acquire, which takes rw shared; Open and Close take rw exclusively to
// publish or withdraw the database, after taking mu (lock order mu, rw).
type engine struct {
	id     string
	dbName string
	log    *slog.Logger
	node   func() *raftcluster.Node // nil until the raft node exists
	ro     *roDB
	// durable is fed with the index a durable marker proves.
	onDurable func(uint64)
	// sqlOpts carries the journal and sync modes; indexDir is the
	// node-local directory of the WAL index. Set before the first Open.
	sqlOpts  sqlnode.Options
	indexDir string
	// needReset asks for a copier reset (restore.go).
	needReset func()

	// mu is the apply lock; it guards the fields in it.
	mu struct {
		sync.Mutex
		fsys       vfs.FS
		db         *sqlnode.Node // open database (also while catching up)
		vfsName    string
		gen        uint64
		stale      []string // registrations whose Unregister failed
		lastSeen   uint64   // highest entry index handed to applyBatch (set once the call is done)
		lastSQL    uint64   // highest SQL entry index handed to applyBatch
		broken     error    // the last apply failed: reopen and catch up
		lastTry    time.Time
		pending    []*ckReq
		closedOnce bool // shutdown: never open again
		// gap: the database on fsys misses entries the log may no
		// longer hold (restore.go); cleared by a catch-up that succeeds
		// and when the view changes.
		gap bool
	}

	// rw guards db and readyCh.
	rw      sync.RWMutex
	db      *sqlnode.Node // published once caught up; nil otherwise
	view    vfs.FS        // the view db lives on (set with db)
	readyCh chan struct{} // closed when db is published
	done    chan struct{} // closed at shutdown

	// wake (capacity 1) nudges recoverLoop after an apply failed; loopWG
	// tracks recoverLoop.
	wake   chan struct{}
	loopWG sync.WaitGroup
	// life is canceled at shutdown (endLife): recoveries run under it.
	life    context.Context
	endLife context.CancelFunc

	// results holds the responses of entries applied while this node led,
	// for Execute. resMu guards it.
	resMu   sync.Mutex
	results map[uint64]sqlnode.Response

	// health tracks failing applies (applyhealth.go; it locks itself);
	// cur is the open database, for interruptApply, which sets halted
	// (both atomic: read without mu).
	health   applyHealth
	cur      atomic.Pointer[sqlnode.Node]
	halted   atomic.Bool
	maxSteps int64 // sqlnode.Options.MaxSteps

	reopens atomic.Int64 // opens after the first, for stats
	// Group commit figures of the apply path (catch-ups not counted):
	// transactions, the SQL entries in them, the largest; the
	// transactions that failed and the entries in those.
	batches, batchEntries, maxBatch, applyFailures, failedEntries atomic.Int64
	// oneByOne turns group commit off: one transaction per SQL entry.
	oneByOne atomic.Bool
	// noop applies SQL entries as no-ops (Node.SetNoopApply, noop.go).
	noop atomic.Bool
	// rf is refresh mode's state (refresh.go).
	rf refreshState
}

type ckReq struct {
	idx uint64
	sum sqlnode.Checksum
	err error
	ok  chan struct{} // closed once served
}

func newEngine(id, dbName string, log *slog.Logger, maxSteps int64) *engine {
	e := &engine{id: id, dbName: dbName, log: log, maxSteps: maxSteps, readyCh: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), results: map[uint64]sqlnode.Response{}}
	e.life, e.endLife = context.WithCancel(context.Background())
	e.ro = newRoDB(e)
	return e
}

// start runs the recovery loop until shutdown.
func (e *engine) start() {
	e.loopWG.Add(1)
	go e.recoverLoop()
}

// markBrokenLocked records that the database misses an entry handed to
// apply (err) and asks recoverLoop to reopen it.
func (e *engine) markBrokenLocked(err error) {
	e.mu.broken = err
	e.mu.lastTry = time.Now()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// recoverLoop reopens (and catches up) a broken database on its view,
// every recoverEvery until that succeeds, the view changes (Close or Open)
// or the engine shuts down. Recovery must not wait for the next SQL entry
// to reach apply: after a failed apply on the leader, the requests that
// would bring one may themselves be waiting for the database (Execute's
// result, readers in acquire, the writer's durable markers), or the load
// may simply have stopped.
func (e *engine) recoverLoop() {
	defer e.loopWG.Done()
	t := time.NewTimer(recoverEvery)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-e.wake:
		case <-t.C:
		}
		next, handOver := e.tryRecover()
		if handOver {
			e.handOver()
		}
		if next > 0 {
			t.Reset(next)
		}
	}
}

// tryRecover makes one recovery attempt if one is due, and returns when
// to come back (0: nothing to do until the next wake), and whether this
// node, the writer and leader, should hand leadership over because its
// apply keeps failing (see applyHealth.shouldHandOver).
func (e *engine) tryRecover() (next time.Duration, handOver bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closedOnce || e.mu.broken == nil || e.mu.fsys == nil {
		return 0, false
	}
	// Under load the apply path makes the attempts (applyRun.sql): look
	// at the count whoever made them.
	if wait := recoverEvery - time.Since(e.mu.lastTry); wait > 0 {
		return wait, e.handOverDueLocked()
	}
	if err := e.recoverLocked(); err != nil {
		return recoverEvery, e.handOverDueLocked()
	}
	return 0, false
}

// handOverDueLocked reports whether this node, the leader and writer,
// should hand leadership over now (see applyHealth.shouldHandOver).
func (e *engine) handOverDueLocked() bool {
	rn := e.node()
	return rn != nil && rn.IsLeader() && e.isWriterViewLocked() && e.health.shouldHandOver()
}

// handOver hands leadership, and with it the writer role, to another
// member: this writer's applies keep failing for a reason another member
// may not share (FailureIO).
func (e *engine) handOver() {
	rn := e.node()
	if rn == nil {
		return
	}
	h := e.health.snapshot()
	ctx, cancel := context.WithTimeout(e.life, 10*time.Second)
	defer cancel()
	to, err := rn.HandOver(ctx, fmt.Sprintf("apply failed %d times in a row: %s", h.Consecutive, h.Error))
	if err != nil {
		e.log.Warn("cluster: apply keeps failing, and handing leadership over failed", "node", e.id, "err", err)
		return
	}
	e.log.Warn("cluster: apply keeps failing: handed leadership over", "node", e.id, "to", to, "attempts", h.Consecutive)
}

// interruptApply stops the apply in progress, if any, and every later one
// (see sqlnode.Node.Interrupt), without waiting for the apply lock: the
// node is shutting down.
func (e *engine) interruptApply() {
	e.halted.Store(true)
	if db := e.cur.Load(); db != nil {
		db.Interrupt()
	}
}

// recoverLocked reopens the database on the same view; the catch-up
// replays every entry handed to apply so far. e.mu is held.
func (e *engine) recoverLocked() error {
	e.mu.lastTry = time.Now()
	e.closeLocked()
	if err := e.openLocked(e.life); err != nil {
		e.mu.broken = err
		if !e.halted.Load() {
			e.health.failed(e.log, e.id, "reopening to catch up", err, e.isWriterViewLocked())
		}
		return err
	}
	e.reopens.Add(1)
	return nil
}

var _ Engine = (*engine)(nil)

// Open implements Engine: open the database on fsys, catch up from the
// log, publish it.
func (e *engine) Open(ctx context.Context, fsys vfs.FS) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closedOnce {
		return ErrClosed
	}
	if e.mu.db != nil {
		e.closeLocked()
	}
	e.mu.fsys, e.mu.gap = fsys, false
	if e.mu.gen > 0 {
		e.reopens.Add(1)
	}
	if err := e.openLocked(ctx); err != nil {
		return err
	}
	return nil
}

// openLocked opens the database on e.mu.fsys and catches up.
func (e *engine) openLocked(ctx context.Context) error {
	if e.halted.Load() {
		return ErrClosed
	}
	e.retryUnregister()
	e.mu.gen++
	fresh := freshView(e.mu.fsys)
	name := fmt.Sprintf("holeycow-%s-%d-%p", e.id, e.mu.gen, e)
	if err := sqlitevfs.Register(name, e.mu.fsys, sqlitevfs.WithPageSize(PageSize), sqlitevfs.WithSharedMemory(e.indexDir)); err != nil {
		return fmt.Errorf("cluster: %s: register vfs: %w", e.id, err)
	}
	opts := e.sqlOpts
	opts.VFS, opts.Path, opts.PageSize, opts.Logger, opts.MaxSteps = name, e.dbName, PageSize, e.log, e.maxSteps
	opts.NoCheckpointOnClose = e.rf.on && !e.isWriterViewLocked()
	db, err := sqlnode.Open(opts)
	if err != nil {
		e.unregister(name)
		return fmt.Errorf("cluster: %s: %w", e.id, err)
	}
	e.mu.db, e.mu.vfsName, e.mu.broken = db, name, nil
	e.cur.Store(db)
	if e.halted.Load() {
		db.Interrupt() // interruptApply ran before cur was set
	}
	if err := e.catchUpLocked(ctx, fresh); err != nil {
		e.noteCatchUpErrLocked(err)
		e.mu.db = nil
		e.cur.Store(nil)
		db.Close()
		e.unregister(name)
		return fmt.Errorf("cluster: %s: catch up: %w", e.id, err)
	}
	e.mu.gap = false
	e.rw.Lock()
	e.db, e.view = db, e.mu.fsys
	close(e.readyCh)
	e.rw.Unlock()
	e.health.succeeded(e.log, e.id)
	e.log.Debug("cluster: database open", "node", e.id, "applied", db.AppliedIndex())
	return nil
}

// catchUpLocked replays the log from the index stored in the database up
// to every entry already handed to apply.
//
// fresh says that the database is shared storage's as it is now (a
// writer's view, or a copier's with an empty overlay). Such a database
// reflects every entry that any node compacted away (compaction follows
// the writer's durable markers), so a log that starts after its stored
// index lost only entries that did not change it (markers, membership):
// the replay starts at the log's first entry. A copier's own, older
// database has no such guarantee: ErrCompacted stands, and the node must
// reset.
func (e *engine) catchUpLocked(ctx context.Context, fresh bool) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rn := e.node()
	if rn == nil {
		// New is still wiring the node (the storage loop starts inside
		// raftcluster.New): wait for it, briefly.
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for rn == nil {
			select {
			case <-wctx.Done():
				return fmt.Errorf("%w: raft node not attached: %w", ErrNotReady, wctx.Err())
			case <-e.done:
				return ErrClosed
			case <-t.C:
			}
			rn = e.node()
		}
	}
	// applyBatch for lastSeen has returned (we hold mu); let Raft record it.
	if err := rn.WaitApplied(wctx, e.mu.lastSeen); err != nil {
		return err
	}
	db := e.mu.db
	from := db.AppliedIndex() + 1
	if fresh {
		from = firstLogIndex(rn, from)
	}
	return rn.ReadLog(from, func(index uint64, cmd []byte) error {
		return e.applyLoggedLocked(rn, db, index, cmd)
	})
}

// applyLoggedLocked applies the logged entry at index to db (a catch-up).
func (e *engine) applyLoggedLocked(rn *raftcluster.Node, db *sqlnode.Node, index uint64, cmd []byte) error {
	kind, payload, idx, err := decodeEntry(cmd)
	if err != nil {
		return nil // not ours: every node ignores it alike
	}
	if kind == kindDurable {
		e.noteDurableLocked(index, idx)
		return nil
	}
	resp, err := db.Apply(index, payload)
	if err != nil {
		return err
	}
	if !resp.Skipped {
		e.keepResult(rn, index, resp) // an Execute may be waiting for it
	}
	return nil
}

// Close implements Engine: withdraw and close the database.
func (e *engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Closed on purpose (the view changes): no recovery on the old view,
	// and its failures no longer matter.
	e.mu.fsys, e.mu.broken, e.mu.gap = nil, nil, false
	e.health.viewClosed()
	return e.closeLocked()
}

// unpublish withdraws the database from readers (they wait).
func (e *engine) unpublish() {
	e.rw.Lock()
	if e.db != nil {
		e.db = nil
		e.readyCh = make(chan struct{})
	}
	e.rw.Unlock()
}

func (e *engine) closeLocked() error {
	e.unpublish()
	db, name := e.mu.db, e.mu.vfsName
	e.mu.db, e.mu.vfsName = nil, ""
	if db == nil {
		return nil
	}
	e.cur.Store(nil)
	e.ro.drain(5 * time.Second)
	err := db.Close()
	if errors.Is(err, sqlnode.ErrClosed) {
		err = nil
	}
	e.unregister(name)
	return err
}

func (e *engine) unregister(name string) {
	if err := sqlitevfs.Unregister(name); err != nil {
		e.mu.stale = append(e.mu.stale, name)
	}
}

func (e *engine) retryUnregister() {
	var keep []string
	for _, n := range e.mu.stale {
		if err := sqlitevfs.Unregister(n); err != nil {
			keep = append(keep, n)
		}
	}
	e.mu.stale = keep
}

// shutdown closes the database for good and waits for recoverLoop.
func (e *engine) shutdown() error {
	e.mu.Lock()
	if e.mu.closedOnce {
		e.mu.Unlock()
		return nil
	}
	e.mu.closedOnce = true
	close(e.done)
	e.endLife()
	err := e.closeLocked()
	e.ro.close()
	e.retryUnregister()
	for _, p := range e.mu.pending {
		p.err = ErrClosed
		close(p.ok)
	}
	e.mu.pending = nil
	e.mu.Unlock()
	e.loopWG.Wait()
	return err
}

// maxRun bounds the SQL entries applied in one transaction. Raft hands
// over at most 64 entries per call; this only caps what it may grow to.
const maxRun = 64

// applyBatch is the raftcluster ApplyBatchFunc. It handles each entry in
// log order, as follows, but hands each run of consecutive SQL entries to
// the database in one transaction (sqlnode.Node.ApplyBatch: group commit,
// one sync for the run):
//
//   - an entry that does not decode is ignored (nil response), alike on
//     every node;
//   - a durable marker first flushes the SQL run before it, then is
//     noted (respApplied);
//   - a SQL entry first serves the checksums requested below its index
//     (flushing the run before it if one is asked for), then, if the
//     database is broken, reopens it when due, but only if no SQL entry of
//     this batch came before (the catch-up replays what Raft has recorded,
//     which excludes this batch); an entry not applied now gets
//     respDeferred (the catch-up of the next opening applies it);
//   - if the run's transaction fails, none of it is applied: the database
//     is withdrawn and marked broken, and each entry of the run gets
//     respDeferred, as a failed entry always did; the reopening's
//     catch-up replays them all;
//   - each applied entry's result is kept for Execute (keepResult).
func (e *engine) applyBatch(entries []raftcluster.Entry) [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(entries) == 0 {
		return nil
	}
	// lastSeen moves once the batch is done: a catch-up that runs inside
	// this call must not wait for Raft to record this batch's entries
	// (Raft records them after the call returns).
	defer func() { e.mu.lastSeen = entries[len(entries)-1].Index }()
	r := &applyRun{e: e, out: make([][]byte, len(entries)), mayRecover: true, max: maxRun}
	if e.oneByOne.Load() {
		r.max = 1
	}
	for i, en := range entries {
		kind, payload, idx, err := decodeEntry(en.Cmd)
		switch {
		case err != nil:
			e.log.Warn("cluster: ignoring entry", "node", e.id, "index", en.Index, "err", err)
		case kind == kindDurable:
			r.flush()
			e.noteDurableLocked(en.Index, idx)
			r.out[i] = respApplied
		case e.noop.Load():
			r.flush()
			r.noopLocked(i, en.Index)
		case e.skipsLocked():
			e.skipLocked(en.Index) // refresh mode: the next refresh brings it
			r.out[i] = respDeferred
		default:
			r.sql(i, en.Index, payload)
		}
	}
	r.flush()
	return r.out
}

// applyRun is one applyBatch call's state: the SQL entries collected for
// the next transaction and the responses so far. It runs under e.mu.
type applyRun struct {
	e          *engine
	out        [][]byte        // one response per entry of the batch
	run        []sqlnode.Entry // SQL entries not yet applied
	at         []int           // their positions in out
	mayRecover bool            // no SQL entry of this batch handled yet
	max        int             // flush when run holds this many
}

// sql handles the SQL entry at position i of the batch.
func (r *applyRun) sql(i int, index uint64, payload []byte) {
	e := r.e
	if e.pendingBeforeLocked(index) {
		r.flush() // the checksum must see every entry before index
		e.servePendingLocked(index)
	}
	e.mu.lastSQL = index
	mayRecover := r.mayRecover
	r.mayRecover = false
	r.out[i] = respDeferred
	if e.mu.broken != nil && e.mu.fsys != nil {
		if !mayRecover || time.Since(e.mu.lastTry) < recoverEvery {
			return
		}
		// Reopen on the same view; the catch-up includes this entry's
		// predecessors, and this entry follows.
		if err := e.recoverLocked(); err != nil {
			return
		}
	}
	if e.mu.db == nil {
		return // caught up by the next Open
	}
	r.run = append(r.run, sqlnode.Entry{Index: index, Command: payload})
	r.at = append(r.at, i)
	if len(r.run) >= r.max {
		r.flush()
	}
}

// flush applies the collected SQL entries in one transaction.
func (r *applyRun) flush() {
	if len(r.run) == 0 {
		return
	}
	e := r.e
	defer func() { r.run, r.at = r.run[:0], r.at[:0] }()
	e.batches.Add(1)
	e.batchEntries.Add(int64(len(r.run)))
	for n := int64(len(r.run)); ; {
		m := e.maxBatch.Load()
		if n <= m || e.maxBatch.CompareAndSwap(m, n) {
			break
		}
	}
	resps, err := e.mu.db.ApplyBatch(r.run)
	if err != nil {
		// The database now misses these entries: withdraw it from readers
		// until a reopening has caught up.
		e.applyFailures.Add(1)
		e.failedEntries.Add(int64(len(r.run)))
		e.unpublish()
		e.markBrokenLocked(err)
		if !e.halted.Load() {
			e.health.failed(e.log.With("first", r.run[0].Index, "last", r.run[len(r.run)-1].Index), e.id, "apply", err, e.isWriterViewLocked())
		}
		return // every entry of the run stays respDeferred
	}
	e.health.succeeded(e.log, e.id)
	rn := e.node()
	for j, i := range r.at {
		e.keepResult(rn, r.run[j].Index, resps[j])
		r.out[i] = respApplied
	}
}

// keepResult keeps the response of the entry at index for Execute, if
// this node leads (only the leader's Execute asks).
func (e *engine) keepResult(rn *raftcluster.Node, index uint64, resp sqlnode.Response) {
	if rn == nil || !rn.IsLeader() {
		return
	}
	e.resMu.Lock()
	defer e.resMu.Unlock()
	if len(e.results) >= maxResults {
		for k := range e.results {
			if k+maxResults/2 < index {
				delete(e.results, k)
			}
		}
	}
	e.results[index] = resp
}

// noteDurableLocked records a durable marker proposed at log index at
// for index idx. If no SQL entry came between idx and the marker, the
// shared database reflects every entry up to the marker itself.
func (e *engine) noteDurableLocked(at, idx uint64) {
	d := idx
	if e.mu.lastSQL <= idx {
		d = at
	}
	if e.onDurable != nil {
		e.onDurable(d)
	}
}

// takeResult returns (and forgets) the response of the entry at index.
func (e *engine) takeResult(index uint64) (sqlnode.Response, bool) {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	r, ok := e.results[index]
	delete(e.results, index)
	return r, ok
}

// acquire waits until the database is published and returns it with its
// release function.
func (e *engine) acquire(ctx context.Context) (*sqlnode.Node, func(), error) {
	db, _, release, err := e.acquireView(ctx)
	return db, release, err
}

// acquireView is acquire that also returns the view the database lives
// on (for guardView).
func (e *engine) acquireView(ctx context.Context) (db *sqlnode.Node, view vfs.FS, release func(), err error) {
	for {
		e.rw.RLock()
		if e.db != nil {
			return e.db, e.view, e.rw.RUnlock, nil
		}
		ch := e.readyCh
		e.rw.RUnlock()
		select {
		case <-ch:
		case <-e.done:
			return nil, nil, nil, ErrClosed
		case <-ctx.Done():
			if why := e.health.notReady(); why != nil {
				return nil, nil, nil, fmt.Errorf("%w (%w)", why, ctx.Err())
			}
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
		}
	}
}

// publishedView returns the view the published database lives on (nil
// while none is published).
func (e *engine) publishedView() vfs.FS {
	e.rw.RLock()
	defer e.rw.RUnlock()
	if e.db == nil {
		return nil
	}
	return e.view
}

// guardView lets a read of the database on view proceed: on a copier view
// (its own snapshot) unless the view is invalidated; on a writer view, which is shared
// storage itself, only while this node's writer Guard passes. A deposed
// writer that has not yet heard of its successor must not read what the
// successor may be changing. Readers check before and after they read: the
// successor mutates only once this node's lease has run out, so a Guard
// that still passes after the read covers the whole read. (The view's role
// can change in place from copier to writer, so it is read each time.)
func (e *engine) guardView(ctx context.Context, view vfs.FS) error {
	if iv, ok := view.(interface{ Invalidated() error }); ok {
		// An invalidated copier view refuses reads until it resets
		// (invariant 7). In WAL mode SQLite may answer from its page cache
		// and the node-local WAL index without reading the view, so the
		// refusal cannot be left to the view's I/O errors.
		if err := iv.Invalidated(); err != nil {
			return invalidatedNotReady(err)
		}
	}
	r, ok := view.(interface{ Role() cow.Role })
	if !ok || r.Role() != cow.RoleWriter {
		return nil
	}
	rn := e.node()
	if rn == nil {
		return ErrNotReady
	}
	if err := rn.Guard()(ctx); err != nil {
		return fmt.Errorf("%w: a writer view reads only while it is the writer: %w", ErrNotReady, err)
	}
	return nil
}

// ready reports whether the database is published.
func (e *engine) ready() bool {
	e.rw.RLock()
	defer e.rw.RUnlock()
	return e.db != nil
}

// isWriterView reports whether the database lives on a writer view (the
// shared database itself).
func (e *engine) isWriterViewLocked() bool {
	r, ok := e.mu.fsys.(interface{ Role() cow.Role })
	return ok && r.Role() == cow.RoleWriter
}

// durableIndex returns, on the writer, a log index such that the shared
// database durably reflects every entry up to it; ok is false elsewhere or
// while the database is not current. Unless every commit is synced
// (TRUNCATE journal with synchronous=FULL), it first flushes: with WAL and
// synchronous=NORMAL only a synced commit makes the applied index durable.
func (e *engine) durableIndex() (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db == nil || e.mu.broken != nil || !e.isWriterViewLocked() || !e.ready() {
		return 0, false
	}
	rn := e.node()
	if rn == nil {
		return 0, false
	}
	// Every entry up to Raft's applied index has been handed to apply
	// (we hold the apply lock) and applied, since the engine is current.
	d := max(rn.AppliedIndex(), e.mu.lastSeen)
	if !sqlnode.SyncsEveryCommit(e.sqlOpts) {
		if _, err := e.mu.db.Flush(); err != nil {
			if k := classifyFailure(err); k == FailureFenced {
				// Leadership is moving: a refusal, not a failure.
				e.log.Info("cluster: flush for the durable index refused: "+k.describe(), "node", e.id, "err", err)
			} else {
				e.log.Warn("cluster: flush for the durable index failed: "+k.describe(), "node", e.id, "kind", string(k), "err", err)
			}
			return 0, false
		}
	}
	return d, true
}

// pendingBeforeLocked reports whether a checksum is requested at an index
// below index.
func (e *engine) pendingBeforeLocked(index uint64) bool {
	for _, p := range e.mu.pending {
		if p.idx < index {
			return true
		}
	}
	return false
}

// servePendingLocked computes the checksums requested at indexes below
// index, before the SQL entry at index changes the database.
func (e *engine) servePendingLocked(index uint64) {
	if len(e.mu.pending) == 0 {
		return
	}
	keep := e.mu.pending[:0]
	for _, p := range e.mu.pending {
		if p.idx < index {
			e.computeLocked(p)
			continue
		}
		keep = append(keep, p)
	}
	e.mu.pending = keep
}

func (e *engine) computeLocked(p *ckReq) {
	defer close(p.ok)
	if e.mu.db == nil || e.mu.broken != nil || !e.ready() {
		p.err = fmt.Errorf("%w: checksum at %d", ErrNotReady, p.idx)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := e.mu.db.Checksum(ctx)
	sum.Index = p.idx
	p.sum, p.err = sum, invalidatedNotReady(err)
}

// checksumAt returns the logical checksum of the database as it is after
// every entry up to index, and before any later one.
func (e *engine) checksumAt(ctx context.Context, index uint64) (sqlnode.Checksum, error) {
	rn := e.node()
	if rn == nil {
		return sqlnode.Checksum{}, ErrNotReady
	}
	if _, release, err := e.acquire(ctx); err != nil {
		return sqlnode.Checksum{}, err
	} else {
		release()
	}
	if p, ok := e.checksumAtRefresh(ctx, rn, index); ok {
		return p.sum, p.err
	}
	p := &ckReq{idx: index, ok: make(chan struct{})}
	e.mu.Lock()
	if last := e.mu.lastSQL; last > index {
		e.mu.Unlock()
		return sqlnode.Checksum{}, fmt.Errorf("%w: asked %d, applied %d", ErrPassed, index, last)
	}
	if rn.AppliedIndex() >= index {
		e.computeLocked(p)
		e.mu.Unlock()
		return p.sum, p.err
	}
	e.mu.pending = append(e.mu.pending, p)
	e.mu.Unlock()
	werr := rn.WaitApplied(ctx, index)
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-p.ok:
		return p.sum, p.err
	default:
	}
	for i, q := range e.mu.pending {
		if q == p {
			e.mu.pending = append(e.mu.pending[:i], e.mu.pending[i+1:]...)
			break
		}
	}
	if werr != nil {
		return sqlnode.Checksum{}, werr
	}
	e.computeLocked(p)
	return p.sum, p.err
}

// appliedSQL returns the applied index stored in the open database (0 if
// none is open).
func (e *engine) appliedSQL() uint64 {
	e.rw.RLock()
	defer e.rw.RUnlock()
	if e.db == nil {
		return 0
	}
	return e.db.AppliedIndex()
}

// check verifies the open database's invariants. A copier view whose
// lease lapsed refuses the reads that would verify them: nothing to
// verify until it resets.
func (e *engine) check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db == nil || e.mu.broken != nil {
		return nil // closed, or waiting to be reopened: nothing to verify
	}
	if e.mu.broken == nil && e.mu.lastSQL > e.mu.db.AppliedIndex() && e.ready() && !e.skipsLocked() {
		return fmt.Errorf("cluster: %s: entry %d handed over but the database is at %d", e.id, e.mu.lastSQL, e.mu.db.AppliedIndex())
	}
	if err := e.mu.db.Check(); !errors.Is(err, cow.ErrInvalidated) {
		return err
	}
	return nil // the copier's lease lapsed: it refuses reads until it resets
}

// freshView reports whether fsys shows shared storage as it is: a writer
// view, or a copier view with an empty overlay.
func freshView(fsys vfs.FS) bool {
	v, ok := fsys.(*cow.View)
	if !ok {
		return false
	}
	st := v.Stats()
	return v.Role() == cow.RoleWriter || st.OverlayFiles == 0 && st.OverlayBlocks == 0
}

// errProbe stops a probing ReadLog at its first entry.
var errProbe = errors.New("probe")

// firstLogIndex returns the smallest index >= from that the node's log
// still holds (from itself if it is there; the applied index + 1 if
// nothing from on is). ReadLog fails with ErrCompacted exactly below the
// log's first index, so a binary search finds it.
func firstLogIndex(rn *raftcluster.Node, from uint64) uint64 {
	present := func(i uint64) bool {
		err := rn.ReadLog(i, func(uint64, []byte) error { return errProbe })
		return !errors.Is(err, raftcluster.ErrCompacted)
	}
	if present(from) {
		return from
	}
	lo, hi := from, rn.AppliedIndex()+1 // lo absent; hi treated as present
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

// precheck runs sqlnode's Precheck on the published database, if there is
// one (a node whose database is reopening lets apply decide). It does not
// hold the database published while it runs: closing the database
// interrupts it (sqlnode.Node.Close), and a precheck that fails for that
// refuses nothing.
func (e *engine) precheck(ctx context.Context, req sqlnode.Request) error {
	e.rw.RLock()
	db := e.db
	e.rw.RUnlock()
	if db == nil || e.noop.Load() {
		return nil
	}
	return db.Precheck(ctx, req)
}
