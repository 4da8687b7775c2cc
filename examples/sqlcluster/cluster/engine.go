package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
)

// PageSize is the SQLite page size, and the cow block size, of every
// database this package opens.
const PageSize = 4096

// recoverEvery bounds how often a broken database tries to reopen itself
// (replica.Config.RecoverEvery).
const recoverEvery = 500 * time.Millisecond

// maxResults bounds the results kept for Execute callers.
const maxResults = 4096

// maxRun bounds the SQL entries applied in one transaction. Raft hands
// over at most 64 entries per call; this only caps what it may grow to.
const maxRun = 64

// Responses of the application callback (the result itself stays in
// process: see engine.results).
var (
	respApplied  = []byte{'a'}
	respDeferred = []byte{'d'}
)

// engine is a node's SQLite database, run by a replica.Replica (which
// opens it on each view, catches it up from the log, recovers it after a
// failed apply, publishes it to readers and keeps the durable index): the
// SQL adapter, plus what only SQL needs: Execute's results, checksums at
// an index, refresh mode, no-op apply, the apply health.
//
// Concurrency: the replica's apply lock guards rf.behindSince (touched
// only in its hooks and under rep.Locked); regMu guards the VFS registrations; resMu the results;
// health locks itself; the rest is set before the first Open.
type engine struct {
	id       string
	dbName   string
	log      *slog.Logger
	node     func() *raftcluster.Node // nil until the raft node exists
	ro       *roDB
	maxSteps int64 // sqlnode.Options.MaxSteps
	// onDurable is fed with the index a durable marker proves; needReset
	// asks for a copier reset.
	onDurable func(uint64)
	needReset func()
	// sqlOpts carries the journal and sync modes; indexDir is the
	// node-local directory of the WAL index. Set before init.
	sqlOpts  sqlnode.Options
	indexDir string

	rep *replica.Replica[*sqlDB]

	regMu sync.Mutex
	gen   uint64
	stale []string // registrations whose Unregister failed

	resMu   sync.Mutex
	results map[uint64]sqlnode.Response

	health applyHealth
	// noop applies SQL entries as no-ops (Node.SetNoopApply, noop.go).
	noop atomic.Bool
	// rf is refresh mode's state (refresh.go).
	rf refreshState
}

func newEngine(id, dbName string, log *slog.Logger, maxSteps int64) *engine {
	e := &engine{id: id, dbName: dbName, log: log, maxSteps: maxSteps, results: map[uint64]sqlnode.Response{},
		node: func() *raftcluster.Node { return nil }}
	e.ro = newRoDB(e)
	return e
}

// init starts the replica, once the fields New sets are in place.
func (e *engine) init() {
	e.rep = replica.New(replica.Config[*sqlDB]{Engine: sqlEngine{e}, Name: e.id, Logger: e.log, MaxBatch: maxRun,
		RecoverEvery: recoverEvery, StaleCopier: e.rf.on, Hooks: replica.Hooks[*sqlDB]{
			OnDurable: func(d uint64) {
				if e.onDurable != nil {
					e.onDurable(d)
				}
			},
			NeedReset: func() {
				if e.needReset != nil {
					e.needReset()
				}
			},
			Intercept: e.intercept,
			Failed: func(what string, err error, writer bool) {
				e.health.failed(e.log, e.id, what, err, writer)
			},
			Succeeded:  func() { e.health.succeeded(e.log, e.id) },
			ViewClosed: e.health.viewClosed,
			SyncFailed: func(err error) {
				if k := classifyFailure(err); k == FailureFenced {
					// Leadership is moving: a refusal, not a failure.
					e.log.Info("cluster: flush for the durable index refused: "+k.describe(), "node", e.id, "err", err)
				} else {
					e.log.Warn("cluster: flush for the durable index failed: "+k.describe(), "node", e.id, "kind", string(k), "err", err)
				}
			},
			HandOverDue: func() bool {
				rn := e.node()
				return rn != nil && rn.IsLeader() && e.health.shouldHandOver()
			},
			HandOver: e.handOver,
		}})
}

// sqlEngine is the replica.Engine: a sqlnode database on the view,
// through a sqlitevfs registration of it.
type sqlEngine struct{ e *engine }

// sqlDB is the replica.DB: an open sqlnode database.
type sqlDB struct {
	e       *engine
	n       *sqlnode.Node
	vfsName string
}

func (s sqlEngine) Open(view vfs.FS) (*sqlDB, error) {
	e := s.e
	e.regMu.Lock()
	e.retryUnregisterLocked()
	e.gen++
	name := fmt.Sprintf("holeycow-%s-%d-%p", e.id, e.gen, e)
	e.regMu.Unlock()
	if err := sqlitevfs.Register(name, view, sqlitevfs.WithPageSize(PageSize), sqlitevfs.WithSharedMemory(e.indexDir)); err != nil {
		return nil, fmt.Errorf("cluster: %s: register vfs: %w", e.id, err)
	}
	opts := e.sqlOpts
	opts.VFS, opts.Path, opts.PageSize, opts.Logger, opts.MaxSteps = name, e.dbName, PageSize, e.log, e.maxSteps
	opts.NoCheckpointOnClose = e.rf.on && !replica.IsWriterView(view)
	n, err := sqlnode.Open(opts)
	if err != nil {
		e.unregister(name)
		return nil, fmt.Errorf("cluster: %s: %w", e.id, err)
	}
	return &sqlDB{e: e, n: n, vfsName: name}, nil
}

func (d *sqlDB) Applied() (uint64, error) { return d.n.AppliedIndex(), nil }

// Apply applies the entries in one transaction and keeps each result for
// Execute.
func (d *sqlDB) Apply(entries []replica.Entry) error {
	run := make([]sqlnode.Entry, len(entries))
	for i, en := range entries {
		run[i] = sqlnode.Entry{Index: en.Index, Command: en.Data}
	}
	resps, err := d.n.ApplyBatch(run)
	if err != nil {
		return err
	}
	for i, r := range resps {
		if !r.Skipped {
			d.e.keepResult(run[i].Index, r)
		}
	}
	return nil
}

// Sync flushes, unless every commit is synced (TRUNCATE journal with
// synchronous=FULL): with WAL and synchronous=NORMAL only a synced commit
// makes the applied index durable.
func (d *sqlDB) Sync() error {
	if sqlnode.SyncsEveryCommit(d.e.sqlOpts) {
		return nil
	}
	_, err := d.n.Flush()
	return err
}

func (d *sqlDB) Close() error {
	d.e.ro.drain(5 * time.Second)
	err := d.n.Close()
	if errors.Is(err, sqlnode.ErrClosed) {
		err = nil
	}
	d.e.unregister(d.vfsName)
	return err
}

func (d *sqlDB) Interrupt()   { d.n.Interrupt() }
func (d *sqlDB) Check() error { return d.n.Check() }

func (e *engine) unregister(name string) {
	if err := sqlitevfs.Unregister(name); err != nil {
		e.regMu.Lock()
		e.stale = append(e.stale, name)
		e.regMu.Unlock()
	}
}

func (e *engine) retryUnregisterLocked() {
	var keep []string
	for _, n := range e.stale {
		if err := sqlitevfs.Unregister(n); err != nil {
			keep = append(keep, n)
		}
	}
	e.stale = keep
}

var _ Engine = (*engine)(nil)

// Open implements Engine: open the database on fsys, catch up from the
// log, publish it.
func (e *engine) Open(ctx context.Context, fsys vfs.FS) error { return e.rep.Open(ctx, fsys) }

// Close implements Engine: withdraw and close the database.
func (e *engine) Close() error { return e.rep.Close() }

// handOver hands leadership, and with it the writer role, to another
// member: this writer's applies keep failing for a reason another member
// may not share (FailureIO).
func (e *engine) handOver(life context.Context) {
	rn := e.node()
	if rn == nil {
		return
	}
	h := e.health.snapshot()
	ctx, cancel := context.WithTimeout(life, 10*time.Second)
	defer cancel()
	to, err := rn.HandOver(ctx, fmt.Sprintf("apply failed %d times in a row: %s", h.Consecutive, h.Error))
	if err != nil {
		e.log.Warn("cluster: apply keeps failing, and handing leadership over failed", "node", e.id, "err", err)
		return
	}
	e.log.Warn("cluster: apply keeps failing: handed leadership over", "node", e.id, "to", to, "attempts", h.Consecutive)
}

// interruptApply stops the apply in progress, if any, and every later
// one, without waiting for the apply lock: the node is shutting down.
func (e *engine) interruptApply() { e.rep.Interrupt() }

// shutdown closes the database for good.
func (e *engine) shutdown() error {
	if e.rep == nil {
		return nil
	}
	err := e.rep.Shutdown()
	e.ro.close()
	e.regMu.Lock()
	e.retryUnregisterLocked()
	e.regMu.Unlock()
	return err
}

// applyBatch is the raftcluster ApplyBatchFunc: the replica applies the
// entries (replica.Replica.Apply: runs of SQL entries in one transaction,
// durable markers noted, foreign entries ignored).
func (e *engine) applyBatch(entries []raftcluster.Entry) [][]byte {
	es := make([]replica.Entry, len(entries))
	for i, en := range entries {
		es[i] = replica.Entry{Index: en.Index, Data: en.Cmd}
	}
	outs := e.rep.Apply(es)
	out := make([][]byte, len(outs))
	for i, o := range outs {
		switch o {
		case replica.Applied:
			out[i] = respApplied
		case replica.Deferred:
			out[i] = respDeferred
		}
	}
	return out
}

// intercept is the replica's Intercept hook: a no-op member answers the
// entry itself (noop.go); a refresh-mode copier leaves it to the next
// refresh.
func (e *engine) intercept(index uint64, st replica.State[*sqlDB]) (replica.Outcome, bool) {
	switch {
	case e.noop.Load():
		e.keepResult(index, sqlnode.Response{Index: index})
		return replica.Applied, true
	case e.skips(st.View):
		e.skipLocked(index, st)
		return replica.Deferred, true
	}
	return 0, false
}

// keepResult keeps the response of the entry at index for Execute, if
// this node leads (only the leader's Execute asks).
func (e *engine) keepResult(index uint64, resp sqlnode.Response) {
	if rn := e.node(); rn == nil || !rn.IsLeader() {
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
func (e *engine) acquireView(ctx context.Context) (*sqlnode.Node, vfs.FS, func(), error) {
	db, view, release, err := e.rep.Acquire(ctx)
	if err != nil {
		if why := e.health.notReady(); why != nil && errors.Is(err, ErrNotReady) && ctx.Err() != nil {
			return nil, nil, nil, fmt.Errorf("%w (%w)", why, ctx.Err())
		}
		return nil, nil, nil, err
	}
	return db.n, view, release, nil
}

// publishedView returns the view the published database lives on (nil
// while none is published).
func (e *engine) publishedView() vfs.FS {
	_, view, _ := e.rep.Published()
	return view
}

// guardView lets a read of the database on view proceed (see
// replica.Replica.Guard), with this package's wording for an invalidated
// copier view.
func (e *engine) guardView(ctx context.Context, view vfs.FS) error {
	if iv, ok := view.(interface{ Invalidated() error }); ok {
		if err := iv.Invalidated(); err != nil {
			return invalidatedNotReady(err)
		}
	}
	return e.rep.Guard(ctx, view)
}

// ready reports whether the database is published.
func (e *engine) ready() bool { return e.rep.Ready() }

// durableIndex returns, on the writer, a log index such that the shared
// database durably reflects every entry up to it; ok is false elsewhere or
// while the database is not current.
func (e *engine) durableIndex() (uint64, bool) { return e.rep.DurableIndex() }

// onRestore is raftcluster's OnRestore (see replica.Replica.OnRestore).
func (e *engine) onRestore(index uint64) { e.rep.OnRestore(index) }

// dropGapView runs before this member becomes the writer (see
// replica.Replica.DropGapView; refresh mode drops every copier view).
func (e *engine) dropGapView() bool { return e.rep.DropGapView() }

// checksum returns the logical checksum of the database in st, as the
// state at index (under the apply lock).
func (e *engine) checksum(st replica.State[*sqlDB], index uint64) (sqlnode.Checksum, error) {
	if !st.Open || !st.Ready {
		return sqlnode.Checksum{}, fmt.Errorf("%w: checksum at %d", ErrNotReady, index)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := st.DB.n.Checksum(ctx)
	sum.Index = index
	return sum, invalidatedNotReady(err)
}

// checksumAt returns the logical checksum of the database as it is after
// every entry up to index, and before any later one (replica.Replica.At).
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
	if sum, ok, err := e.checksumAtRefresh(ctx, rn, index); ok {
		return sum, err
	}
	var sum sqlnode.Checksum
	err := e.rep.At(ctx, index, func(st replica.State[*sqlDB]) (err error) {
		sum, err = e.checksum(st, index)
		return err
	})
	if err != nil {
		return sqlnode.Checksum{}, err
	}
	return sum, nil
}

// appliedSQL returns the applied index stored in the published database
// (0 if none is).
func (e *engine) appliedSQL() uint64 { return e.rep.Stats().Applied }

// check verifies the replica's and the open database's invariants.
func (e *engine) check() error { return e.rep.Check() }

// precheck runs sqlnode's Precheck on the published database, if there is
// one (a node whose database is reopening lets apply decide). It does not
// hold the database published while it runs: closing the database
// interrupts it (sqlnode.Node.Close), and a precheck that fails for that
// refuses nothing.
func (e *engine) precheck(ctx context.Context, req sqlnode.Request) error {
	db, _, ok := e.rep.Published()
	if !ok || e.noop.Load() {
		return nil
	}
	return db.n.Precheck(ctx, req)
}
