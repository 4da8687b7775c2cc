package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
)

// Node is one member of a replicated SQL database: a raftcluster.Node
// whose application commands are SQL requests, applied in log order to one
// SQLite database opened on the member's cow view (the writer's view is
// the shared database itself; a copier's keeps its changes in its
// overlay).
//
// Concurrency: all methods are safe for concurrent use.
type Node struct {
	cfg   Config
	id    string
	raft  *raftcluster.Node
	rptr  atomic.Pointer[raftcluster.Node]
	eng   *engine
	store Storage
	ref   *refresher // refresh mode (refresh.go); its sem serializes storage calls

	resetReq   atomic.Bool
	dbBytes    atomic.Int64 // the database's size when last seen (resetAt)
	resets     atomic.Int64
	durable    atomic.Uint64 // shared database durable up to this log index
	lastMarker atomic.Uint64 // last durable marker this node proposed

	// dropIndexDir removes the WAL index directory if New made it.
	dropIndexDir func()

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a node. Call Bootstrap on the first member, and Join on the
// others.
func New(cfg Config) (*Node, error) {
	if err := cfg.fill(); err != nil {
		if cfg.Transport != nil {
			cfg.Transport.Close()
		}
		return nil, err
	}
	n := &Node{cfg: cfg, id: cfg.ID, done: make(chan struct{}), ref: newRefresher()}
	n.eng = newEngine(cfg.ID, cfg.DBName, cfg.Logger, cfg.MaxSteps)
	n.eng.rf.on = cfg.CopierMode == CopierRefresh
	n.eng.sqlOpts = sqlnode.Options{JournalMode: cfg.JournalMode, Synchronous: cfg.Synchronous,
		WALAutoCheckpoint: walAutoCheckpoint(cfg.JournalMode, cfg.ResetThreshold)}
	indexDir, dropIndexDir, err := prepareIndexDir(cfg.IndexDir)
	if err != nil {
		cfg.Transport.Close()
		return nil, fmt.Errorf("cluster: %s: %w", cfg.ID, err)
	}
	n.eng.indexDir, n.dropIndexDir = indexDir, dropIndexDir
	n.eng.node = n.rptr.Load
	n.eng.onDurable = func(d uint64) {
		for {
			cur := n.durable.Load()
			if d <= cur || n.durable.CompareAndSwap(cur, d) {
				return
			}
		}
	}
	n.eng.needReset = func() { n.resetReq.Store(true) }
	n.eng.init()
	st, err := cfg.Storage(cfg.ID, n.eng)
	if err != nil {
		cfg.Transport.Close()
		dropIndexDir()
		return nil, fmt.Errorf("cluster: %s: storage: %w", cfg.ID, err)
	}
	n.store = st
	rn, err := raftcluster.New(raftcluster.Config{
		ID: cfg.ID, StabilityAddr: st.StabilityAddr(), Transport: cfg.Transport, DataDir: cfg.DataDir, Stores: cfg.Stores,
		LogStore: cfg.LogStore, Timeouts: cfg.Timeouts, Logger: cfg.Logger, ApplyBatch: n.eng.applyBatch,
		CompactableIndex: n.compactable, OnRestore: n.eng.onRestore, Storage: (*nodeStorage)(n),
		ResetAt: n.resetAt, ReportInterval: 3 * cfg.Timeouts.Heartbeat,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
	})
	if err != nil {
		st.Close()
		n.eng.shutdown()
		dropIndexDir()
		return nil, fmt.Errorf("cluster: %s: %w", cfg.ID, err)
	}
	n.raft = rn
	st.Attach(rn)
	n.rptr.Store(rn)
	n.eng.rep.SetLog(rn)
	n.wg.Add(1)
	go n.durableLoop()
	n.startRefresh()
	return n, nil
}

// ID returns the member's ID.
func (n *Node) ID() string { return n.id }

// Raft returns the underlying raftcluster node (membership, events, the
// cluster state).
func (n *Node) Raft() *raftcluster.Node { return n.raft }

// Bootstrap makes this node a one-member cluster (first member only).
func (n *Node) Bootstrap(ctx context.Context) error { return n.raft.Bootstrap(ctx) }

// Join asks the cluster that a member at raftAddr belongs to to add this
// node. The node copies no database: it opens the shared one once it is a
// member, and replays the log after the index stored in it.
func (n *Node) Join(ctx context.Context, raftAddr string) error {
	return n.raft.RequestJoin(ctx, raftAddr)
}

// compactable is raftcluster's CompactableIndex: how far the shared
// database is durable, as the writer last recorded it in the log (on the
// writer itself, its own applied index, every commit being synced).
func (n *Node) compactable() uint64 {
	if d, ok := n.eng.durableIndex(); ok {
		return max(d, n.durable.Load())
	}
	return n.durable.Load()
}

// DurableIndex returns, on the writer, a log index such that the shared
// database durably reflects every entry up to it; ok is false on a copier
// or while the database is not current.
func (n *Node) DurableIndex() (idx uint64, ok bool) { return n.eng.durableIndex() }

// durableLoop proposes durable markers on the writer.
func (n *Node) durableLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.DurableInterval)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeouts.DefaultOp)
		n.Checkpoint(ctx)
		cancel()
	}
}

// Checkpoint (on the writer) records in the log how far the shared
// database is durable, if that moved since the last marker, and returns
// it. Log compaction on every node follows these markers. The writer does
// it every DurableInterval; call it to compact sooner (tests).
func (n *Node) Checkpoint(ctx context.Context) (uint64, error) {
	if !n.raft.IsLeader() {
		return 0, &raftcluster.NotLeaderError{Op: "checkpoint"}
	}
	d, ok := n.eng.durableIndex()
	if !ok {
		return 0, fmt.Errorf("%w: not the writer, or the database is catching up", ErrNotReady)
	}
	if d <= n.lastMarker.Load() {
		return d, nil // nothing but our own marker since
	}
	idx, _, err := n.raft.Apply(ctx, replica.EncodeDurable(d))
	if err != nil {
		return 0, err
	}
	n.lastMarker.Store(idx)
	return d, nil
}

// Execute runs req through the replicated log: Prepare rewrites what is
// not deterministic (or rejects it), the leader appends it, and every node
// applies it in log order, all statements in one transaction with the log
// index. It returns once a quorum holds the entry and this node applied
// it. SQL errors are in the Response (the same on every node), not in err.
//
// It must run on the leader (*raftcluster.NotLeaderError otherwise, naming
// it). An error wrapping raftcluster.ErrOutcomeUnknown means the request
// may or may not have committed. While this writer's own apply fails for
// its storage (Stats().Apply: storage-full or io) it refuses, before the
// log, with an error wrapping ErrNotReady that says why: nothing
// committed.
func (n *Node) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	if n.closed() {
		return sqlnode.Response{}, ErrClosed
	}
	if !n.raft.IsLeader() {
		id, addr := n.raft.Leader()
		return sqlnode.Response{}, &raftcluster.NotLeaderError{Op: "execute", LeaderID: id, LeaderAddr: addr}
	}
	// This writer cannot apply entries now (its storage is full, or
	// fails): refuse before the log, so that the caller knows nothing
	// committed, rather than append what it cannot apply.
	if err := n.eng.health.refusal(); err != nil {
		return sqlnode.Response{}, err
	}
	cmd, err := sqlnode.Prepare(req, sqlnode.Env{})
	if err != nil {
		return sqlnode.Response{}, err
	}
	if err := n.eng.precheck(ctx, req); err != nil {
		return sqlnode.Response{}, err
	}
	idx, resp, err := n.raft.Apply(ctx, replica.EncodeCommand(cmd))
	if err != nil {
		return sqlnode.Response{}, err
	}
	if r, ok := n.eng.takeResult(idx); ok && string(resp) == string(respApplied) {
		return r, nil
	}
	// The database was reopening when the entry applied here: its
	// catch-up applies it (and keeps the result) before publishing the
	// database again. Wait for that while this node leads, briefly.
	wctx, cancel := context.WithTimeout(ctx, 4*n.cfg.Timeouts.Heartbeat)
	defer cancel()
	if _, release, err := n.eng.acquire(wctx); err == nil {
		release()
		if r, ok := n.eng.takeResult(idx); ok {
			return r, nil
		}
	}
	if h, last := n.eng.health.snapshot(), n.eng.health.lastError(); h.Failing && last != nil {
		// Say why: a fencing refusal (errors.Is raftcluster.ErrFenced), a
		// full disk, an I/O error.
		return sqlnode.Response{}, fmt.Errorf("%w: entry %d committed, but this node could not apply it: %s: %w",
			raftcluster.ErrOutcomeUnknown, idx, h.Kind.describe(), last)
	}
	return sqlnode.Response{}, fmt.Errorf("%w: entry %d committed but its result is not available here (the database was reopening)", raftcluster.ErrOutcomeUnknown, idx)
}

// Query runs read-only statements on this node's database, in one read
// transaction, at the given consistency level.
func (n *Node) Query(ctx context.Context, level Level, stmts []sqlnode.Statement) ([]sqlnode.Result, error) {
	if n.closed() {
		return nil, ErrClosed
	}
	if err := n.waitLevel(ctx, level); err != nil {
		return nil, err
	}
	db, view, release, err := n.eng.acquireView(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := n.eng.guardView(ctx, view); err != nil {
		return nil, err
	}
	rs, err := db.Query(ctx, stmts)
	if err != nil {
		return nil, n.eng.readFailed(ctx, view, err)
	}
	if err := n.eng.guardView(ctx, view); err != nil {
		return nil, err
	}
	return rs, nil
}

// readFailed reports a read of the database on view that failed with
// err: if the view's guard refuses now (a writer view whose lease lapsed
// or that was deposed, an invalidated copier view), the failure is that
// refusal (503 with its reason over HTTP), not the I/O error SQLite made
// of it (a 500 "internal error" from /db/backup while leadership moved).
func (e *engine) readFailed(ctx context.Context, view vfs.FS, err error) error {
	if gerr := e.guardView(ctx, view); gerr != nil {
		return gerr
	}
	return invalidatedNotReady(err)
}

// invalidatedNotReady reports a read that this node's copier view refused
// because it was invalidated (its stability lease lapsed, so it may have
// missed a round: invariant 7) as what it is: the database is not ready
// until the copier resets, which it does by itself (the writer excludes
// it, it rejoins). Other errors pass unchanged.
func invalidatedNotReady(err error) error {
	if err == nil || errors.Is(err, ErrNotReady) || !errors.Is(err, cow.ErrInvalidated) {
		return err
	}
	return fmt.Errorf("%w: this copier's view was invalidated and resets first: %w", ErrNotReady, err)
}

// BackupTo writes a consistent copy of this node's database to the file
// at path (see sqlnode.Node.BackupTo), after waiting as a read at level
// would.
func (n *Node) BackupTo(ctx context.Context, level Level, path string) error {
	if n.closed() {
		return ErrClosed
	}
	if err := n.waitLevel(ctx, level); err != nil {
		return err
	}
	db, view, release, err := n.eng.acquireView(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := n.eng.guardView(ctx, view); err != nil {
		return err
	}
	if err := db.BackupTo(ctx, path); err != nil {
		return n.eng.readFailed(ctx, view, err)
	}
	return n.eng.guardView(ctx, view)
}

// waitLevel waits until a read at level may run here.
func (n *Node) waitLevel(ctx context.Context, level Level) error {
	var target uint64
	switch level {
	case LevelNone:
		return nil
	case LevelWeak:
		return n.waitWeak(ctx)
	case LevelLinearizable:
		idx, err := n.readIndex(ctx)
		if err != nil {
			return err
		}
		target = idx
	default:
		return fmt.Errorf("%w: %d", ErrBadLevel, int(level))
	}
	if err := n.raft.WaitApplied(ctx, target); err != nil {
		return err
	}
	return n.freshen(ctx, target)
}

func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.IsLeader() {
		return n.raft.ReadIndex(ctx)
	}
	id, addr := n.raft.Leader()
	if n.cfg.LeaderReadIndex == nil || id == "" {
		return 0, &raftcluster.NotLeaderError{Op: "read-index", LeaderID: id, LeaderAddr: addr}
	}
	return n.cfg.LeaderReadIndex(ctx, id)
}

// ReadIndex returns a linearizable read index (leader only); followers use
// it through Config.LeaderReadIndex.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) { return n.raft.ReadIndex(ctx) }

// ReadOnlyDB returns a database/sql handle on this node's own database.
// Reads see this node's applied state (level none); a write fails with an
// error wrapping sqlnode.ErrReadOnly that points to Execute. The handle
// survives resets and failovers (it reconnects to the reopened database).
// A read that this node's copier view refused because its lease lapsed
// fails with ErrNotReady wrapping the cause, as Query does.
// It belongs to the Node: do not Close it; Close does.
func (n *Node) ReadOnlyDB() *sql.DB { return n.eng.ro.db }

// ChecksumAt returns the logical checksum of this node's database after
// every entry up to log index idx and before any later one; it waits until
// the node has applied idx. Checksums of different nodes at the same idx
// must be equal. If this node already applied a write after idx, it
// returns an error wrapping ErrPassed.
func (n *Node) ChecksumAt(ctx context.Context, idx uint64) (sqlnode.Checksum, error) {
	if n.closed() {
		return sqlnode.Checksum{}, ErrClosed
	}
	return n.eng.checksumAt(ctx, idx)
}

// RequestReset asks for this copier's garbage collection: the node
// reports an overlay at the reset threshold, the leader grants it the
// reset slot, and the node closes its database, drops its overlay through
// the writer's handshake, reopens on shared storage and replays the log
// after the stored index. It returns at once; Stats().Resets counts
// completed resets.
func (n *Node) RequestReset() error {
	if (*nodeStorage)(n).onWriterView() {
		return ErrNotCopier
	}
	n.resetReq.Store(true)
	return nil
}

// Stats describes the node.
type Stats struct {
	ID     string
	Leader bool
	Writer bool
	// AppliedIndex is Raft's applied index; DBIndex the last SQL entry
	// stored in the database; Durable how far the shared database is
	// known to be durable (the compaction bound).
	AppliedIndex, DBIndex, Durable uint64
	// OverlayBytes is the copier overlay's size (0 on the writer).
	OverlayBytes int64
	// Resets counts completed copier resets; Reopens every reopening of
	// the database (resets, failovers, recoveries).
	Resets, Reopens int64
	Ready           bool
	// Group commit: ApplyBatches counts the database transactions that
	// applied live entries (catch-ups aside), ApplyBatchEntries the SQL
	// entries in them, MaxApplyBatch the largest; ApplyFailures the
	// transactions that failed (I/O: the database then reopened and
	// replayed them), ApplyFailedEntries the entries in those.
	ApplyBatches, ApplyBatchEntries, MaxApplyBatch int64
	ApplyFailures, ApplyFailedEntries              int64
	// Apply says whether applying entries fails here now, why, and how
	// often this node handed leadership over for it.
	Apply ApplyHealth
}

// Stats returns the node's current figures.
func (n *Node) Stats() Stats {
	st := n.raft.State()
	rs := n.eng.rep.Stats()
	return Stats{
		ID: n.id, Leader: n.raft.IsLeader(), Writer: st.Writer == n.id,
		AppliedIndex: n.raft.AppliedIndex(), DBIndex: rs.Applied, Durable: n.durable.Load(),
		OverlayBytes: n.store.OverlayBytes(), Resets: n.resets.Load(), Reopens: rs.Reopens,
		Ready: rs.Ready, ApplyBatches: rs.Batches, ApplyBatchEntries: rs.BatchEntries,
		MaxApplyBatch: rs.MaxBatch, ApplyFailures: rs.Failures, ApplyFailedEntries: rs.FailedEntries,
		Apply: n.eng.health.snapshot(),
	}
}

// SetGroupCommit turns group commit on (the default) or off on this
// member. On, the runs of consecutive SQL entries that Raft hands over
// together are applied in one database transaction (one sync); off, every
// entry gets a transaction of its own. Either way every entry is applied
// alike, in log order, so members may differ in this setting; it exists
// to measure the baseline (examples/bench).
func (n *Node) SetGroupCommit(on bool) { n.eng.rep.SetGroupCommit(on) }

func (n *Node) closed() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Close stops the node without leaving the cluster (see Leave): Raft
// first (the node stops applying; a writer is fenced), then the database.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		// An apply may be running a long request: stop it first, or Raft's
		// shutdown would wait for it.
		n.eng.interruptApply()
		close(n.done)
		n.wg.Wait()
		err := n.raft.Shutdown()
		serr := n.store.Close()
		n.closeErr = errors.Join(err, serr, n.eng.shutdown())
		n.dropIndexDir()
	})
	return n.closeErr
}

// Leave removes this node from the cluster; call Close afterwards.
func (n *Node) Leave(ctx context.Context) error { return n.raft.Leave(ctx) }

// Check verifies the node's invariants: Raft's, the storage's and the
// database's.
func (n *Node) Check() error {
	return errors.Join(n.raft.Check(), n.store.Check(), n.eng.check())
}

// nodeStorage is the raftcluster.Storage the node hands to Raft: the
// member's Storage, with RequestReset folded into OverlayBytes. The reset
// request (resetReq) is set by RequestReset and the engine (needReset),
// and cleared only where it is acted on: a Reset, a BecomeCopier that
// reset or replaced a writer view with a fresh copier view, a
// BecomeWriter.
type nodeStorage Node

var _ raftcluster.Storage = (*nodeStorage)(nil)

func (s *nodeStorage) BecomeWriter(ctx context.Context, epoch uint64) error {
	s.ref.lockStorage()
	defer s.ref.unlock()
	// A copier view with a gap is not promoted: it is invalidated, and
	// the Storage opens a fresh writer view instead (engine.dropGapView).
	s.eng.dropGapView()
	if err := s.store.BecomeWriter(ctx, epoch); err != nil {
		return err
	}
	// The writer has no overlay: a reset asked for on the copier view
	// (RequestReset, a gap) is moot.
	s.resetReq.Store(false)
	return nil
}

func (s *nodeStorage) BecomeCopier(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	s.ref.lockStorage()
	defer s.ref.unlock()
	wasWriter := s.onWriterView()
	err := s.store.BecomeCopier(ctx, epoch, w)
	if err == nil && wasWriter {
		// A fresh copier view: a reset asked for while this member was
		// the writer (RequestReset racing the promotion, a refresh that
		// failed while the role changed) concerned no overlay of it.
		s.resetReq.Store(false)
	}
	if err == nil || !errors.Is(err, raftcluster.ErrCompacted) {
		return err
	}
	// The copier view's database is older than the log reaches: a
	// refresh-mode copier keeps the snapshot of its last refresh, and a
	// new writer's compaction (before adding a member, say) can pass it.
	// Catching up cannot succeed; re-base the view on shared storage
	// through the new writer's reset handshake instead, as a reset does.
	s.eng.log.Info("cluster: copier behind the compacted log at a writer change: resetting", "node", s.id, "epoch", epoch, "writer", w.ID, "err", err)
	if rerr := s.store.Reset(ctx, epoch, w); rerr != nil {
		return errors.Join(err, rerr)
	}
	s.resetReq.Store(false)
	s.resets.Add(1)
	return nil
}

func (s *nodeStorage) SetCopiers(epoch, gen uint64, copiers []raftcluster.Member) {
	s.store.SetCopiers(epoch, gen, copiers)
}

func (s *nodeStorage) Fence(epoch uint64) { s.store.Fence(epoch) }

func (s *nodeStorage) Reset(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	s.ref.lockStorage()
	defer s.ref.unlock()
	if err := s.store.Reset(ctx, epoch, w); err != nil {
		return err
	}
	s.resetReq.Store(false)
	s.resets.Add(1)
	return nil
}

// OverlayBytes reports the overlay's size, raised above any reset
// threshold while a reset is asked for on a copier view. It leaves the
// request alone: the role changes and resets that act on it clear it.
func (s *nodeStorage) OverlayBytes() int64 {
	(*Node)(s).noteDBBytes()
	b := s.store.OverlayBytes()
	// A writer has no overlay to reset: a request made on the copier view
	// it replaced (a refresh or catch-up that failed while the role
	// changed), or racing its promotion, is moot until BecomeCopier
	// drops it.
	if s.resetReq.Load() && !s.onWriterView() {
		// Above any threshold: the leader's (from its own view of the
		// database's size) may exceed this node's.
		b = max(b, resetRequested)
	}
	return b
}

// onWriterView reports whether the member's current view is a writer's.
func (s *nodeStorage) onWriterView() bool {
	v, ok := s.store.(interface{ View() *cow.View })
	if !ok {
		return false
	}
	cv := v.View()
	return cv != nil && cv.Role() == cow.RoleWriter
}

// prepareIndexDir returns the directory for the member's WAL indexes: dir,
// emptied of index files that an earlier process left, or a new temporary
// directory when dir is "" (drop removes it; it does nothing for dir).
func prepareIndexDir(dir string) (_ string, drop func(), err error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "holeycow-index-")
		if err != nil {
			return "", nil, fmt.Errorf("WAL index dir: %w", err)
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("WAL index dir: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "holeycow-*-shm"))
	if err != nil {
		return "", nil, fmt.Errorf("WAL index dir: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return "", nil, fmt.Errorf("WAL index dir: %w", err)
		}
	}
	return dir, func() {}, nil
}

// resetRequested is the overlay size a member reports to ask for a reset
// (RequestReset, or a catch-up that found a gap in its log).
const resetRequested = 1 << 60
