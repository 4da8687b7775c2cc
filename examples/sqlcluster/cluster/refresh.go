package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
)

// CopierMode is how a copier follows the writer.
type CopierMode int

const (
	// CopierDefault is DefaultCopierMode.
	CopierDefault CopierMode = iota
	// CopierReplay: the copier applies every committed entry to its own
	// database, in its overlay (the paper's way). Its reads are current
	// as soon as an entry applies, and its promotion is the fastest; its
	// overlay collects every page its engine writes (bounded by the reset
	// policy) and it spends about the writer's CPU per write.
	CopierReplay
	// CopierRefresh: the copier applies nothing as entries commit. Its
	// database is a snapshot of shared storage at one log index; it moves
	// forward by a refresh: its view is re-based on shared storage as it
	// is now (the reset handshake keeps that a prefix of the writer's
	// mutations), the database reopens there (SQLite's journal or WAL
	// recovery finds the last committed state; the node-local WAL index
	// is dropped) and only the entries past the index stored in it are
	// replayed. It refreshes once an entry it has not applied is
	// Config.RefreshLag old, and on demand for reads at LevelWeak and
	// LevelLinearizable. Its overlay holds the pre-images of what the
	// writer changed since the refresh (and the few entries replayed).
	// Promotion drops the view for a writer view on shared storage and
	// replays the tail.
	CopierRefresh
)

// DefaultCopierMode is the copier mode of a Config that names none.
const DefaultCopierMode = CopierReplay

// DefaultRefreshLag is Config.RefreshLag's default.
const DefaultRefreshLag = 100 * time.Millisecond

var copierModeNames = [...]string{"default", "replay", "refresh"}

func (m CopierMode) String() string {
	if m < 0 || int(m) >= len(copierModeNames) {
		return fmt.Sprintf("CopierMode(%d)", int(m))
	}
	return copierModeNames[m]
}

// ParseCopierMode parses "replay" or "refresh" ("" is CopierDefault).
func ParseCopierMode(s string) (CopierMode, error) {
	switch strings.ToLower(s) {
	case "", "default":
		return CopierDefault, nil
	case "replay":
		return CopierReplay, nil
	case "refresh":
		return CopierRefresh, nil
	}
	return 0, fmt.Errorf("cluster: copier mode %q: want replay or refresh", s)
}

func (c *Config) fillRefresh() error {
	if c.CopierMode == CopierDefault {
		c.CopierMode = DefaultCopierMode
	}
	if c.CopierMode != CopierReplay && c.CopierMode != CopierRefresh {
		return fmt.Errorf("cluster: Config.CopierMode: %v", c.CopierMode)
	}
	if c.RefreshLag <= 0 {
		c.RefreshLag = DefaultRefreshLag
	}
	return nil
}

// errRefreshPromote is the cause with which a refresh-mode copier view is
// invalidated before promotion (see engine.dropGapView).
var errRefreshPromote = errors.New("cluster: a refresh-mode copier becomes the writer on a fresh writer view")

// refreshState is the engine's side of refresh mode. on is set before
// the first Open and never changes; behindSince is guarded by e.mu.
type refreshState struct {
	on bool
	// behindSince is when the database last fell behind the log (the
	// first SQL entry it skipped while current).
	behindSince time.Time
}

// skipsLocked reports whether applyBatch leaves SQL entries to the next
// refresh: refresh mode, on a copier view.
func (e *engine) skipsLocked() bool {
	return e.rf.on && e.mu.fsys != nil && !e.isWriterViewLocked()
}

// skipLocked handles a SQL entry at index that a refresh-mode copier
// does not apply. Checksums are served by checksumAtRefresh, never
// queued on such a copier; one queued before the member became one fails.
func (e *engine) skipLocked(index uint64) {
	for _, p := range e.mu.pending {
		p.err = fmt.Errorf("%w: checksum at %d: the member became a refresh-mode copier", ErrNotReady, p.idx)
		close(p.ok)
	}
	e.mu.pending = nil
	if e.mu.db == nil || e.mu.lastSQL <= e.mu.db.AppliedIndex() {
		e.rf.behindSince = time.Now()
	}
	e.mu.lastSQL = index
}

// behind returns how long the database has missed a SQL entry handed to
// apply (0: current, or not in refresh mode, or not open).
func (e *engine) behind() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.skipsLocked() || e.mu.db == nil || e.mu.lastSQL <= e.mu.db.AppliedIndex() {
		return 0
	}
	return time.Since(e.rf.behindSince)
}

// currentFor reports whether the published database holds every SQL
// entry up to target (which apply has been handed). The last SQL entry at
// or below target is not known exactly: min(target, lastSQL) bounds it.
func (e *engine) currentFor(target uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.db != nil && e.ready() && e.mu.db.AppliedIndex() >= min(target, e.mu.lastSQL)
}

// advanceLocked replays the logged SQL entries after the database's
// stored index up to to into the database (its overlay, on a copier).
func (e *engine) advanceLocked(to uint64) error {
	db := e.mu.db
	if db == nil || e.mu.broken != nil {
		return fmt.Errorf("%w: database reopening", ErrNotReady)
	}
	rn := e.node()
	if rn == nil {
		return ErrNotReady
	}
	if db.AppliedIndex() >= to {
		return nil
	}
	err := rn.ReadLog(db.AppliedIndex()+1, func(index uint64, cmd []byte) error {
		if index > to {
			return errProbe
		}
		return e.applyLoggedLocked(rn, db, index, cmd)
	})
	if err != nil && !errors.Is(err, errProbe) {
		return fmt.Errorf("cluster: %s: replay to %d: %w", e.id, to, err)
	}
	if got := db.AppliedIndex(); got < min(to, e.mu.lastSQL) {
		return fmt.Errorf("%w: replay to %d reached %d only", ErrNotReady, to, got)
	}
	return nil
}

// checksumAtRefresh is checksumAt on a refresh-mode copier: the database
// holds the state at its stored index until the next refresh, so it is
// brought to index by replaying the entries in between (none are applied
// as they commit). ok is false when the node is not such a copier.
func (e *engine) checksumAtRefresh(ctx context.Context, rn *raftcluster.Node, index uint64) (p *ckReq, ok bool) {
	e.mu.Lock()
	skips := e.skipsLocked()
	e.mu.Unlock()
	if !skips {
		return nil, false
	}
	p = &ckReq{idx: index, ok: make(chan struct{})}
	if err := rn.WaitApplied(ctx, index); err != nil {
		p.err = err
		return p, true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.skipsLocked():
		p.err = fmt.Errorf("%w: checksum at %d: the member's role changed", ErrNotReady, index)
	case e.mu.db != nil && e.mu.db.AppliedIndex() > index:
		p.err = fmt.Errorf("%w: asked %d, database at %d", ErrPassed, index, e.mu.db.AppliedIndex())
	default:
		if p.err = e.advanceLocked(index); p.err == nil {
			e.computeLocked(p)
		}
	}
	return p, true
}

// refresher is a Node's refresh mode: the lag loop and the refreshes.
//
// Concurrency: sem (capacity 1) is held by one refresh at a time and by
// the storage calls of nodeStorage (BecomeWriter, BecomeCopier, Reset),
// so that a refresh never runs beside a role change or a reset; a
// storage call cancels the refresh in flight (cancel, guarded by cmu)
// rather than wait for it: a refresh from a writer that just died would
// hold up the failover. The counters are atomic; durs is guarded by sem.
type refresher struct {
	sem       chan struct{}
	cmu       sync.Mutex
	cancel    context.CancelFunc // the refresh in flight's, or nil
	count     atomic.Int64       // completed refreshes
	failed    atomic.Int64       // refreshes that failed
	lastNanos atomic.Int64       // duration of the last one
	durs      []time.Duration
	durAt     int
}

const keepDurations = 4096

func newRefresher() *refresher { return &refresher{sem: make(chan struct{}, 1)} }

// lock takes sem, or gives up with ctx.
func (r *refresher) lock(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for a refresh: %w", ErrNotReady, ctx.Err())
	}
}

func (r *refresher) unlock() { <-r.sem }

// lockStorage is lock for the storage calls: it cancels the refresh in
// flight, if any, and waits for sem.
func (r *refresher) lockStorage() {
	r.cmu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.cmu.Unlock()
	r.sem <- struct{}{}
}

// cancelable returns ctx, bounded by d, whose cancel lockStorage may call
// until done runs.
func (r *refresher) cancelable(ctx context.Context, d time.Duration) (_ context.Context, done func()) {
	ctx, cancel := context.WithTimeout(ctx, d)
	r.cmu.Lock()
	r.cancel = cancel
	r.cmu.Unlock()
	return ctx, func() {
		r.cmu.Lock()
		r.cancel = nil
		r.cmu.Unlock()
		cancel()
	}
}

// RefreshStats describes a member's refresh mode.
type RefreshStats struct {
	Mode CopierMode
	// Refreshes counts completed refreshes, Failed the failed ones; Last
	// is the last one's duration, Recent those of the latest ones (up to
	// 4096, oldest first).
	Refreshes, Failed int64
	Last              time.Duration
	Recent            []time.Duration
	// Behind is how long the database has missed an entry handed to
	// apply (0 when current).
	Behind time.Duration
}

// RefreshStats returns the member's refresh figures.
func (n *Node) RefreshStats() RefreshStats {
	r := n.ref
	st := RefreshStats{Mode: n.cfg.CopierMode, Refreshes: r.count.Load(), Failed: r.failed.Load(),
		Last: time.Duration(r.lastNanos.Load()), Behind: n.eng.behind()}
	r.sem <- struct{}{}
	if len(r.durs) < keepDurations {
		st.Recent = slices.Clone(r.durs)
	} else {
		st.Recent = append(slices.Clone(r.durs[r.durAt:]), r.durs[:r.durAt]...)
	}
	<-r.sem
	return st
}

// startRefresh starts the lag loop of a refresh-mode member.
func (n *Node) startRefresh() {
	if n.cfg.CopierMode != CopierRefresh {
		return
	}
	n.wg.Add(1)
	go n.refreshLoop()
}

// refreshLoop refreshes the copier once an entry it has not applied is
// Config.RefreshLag old.
func (n *Node) refreshLoop() {
	defer n.wg.Done()
	every := min(max(n.cfg.RefreshLag/4, time.Millisecond), 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		if n.eng.behind() < n.cfg.RefreshLag {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeouts.DefaultOp)
		err := n.Refresh(ctx)
		cancel()
		if err != nil && !errors.Is(err, ErrClosed) {
			n.cfg.Logger.Debug("cluster: refresh", "node", n.id, "err", err)
		}
	}
}

// Refresh moves a refresh-mode copier's database to shared storage as it
// is now and replays the entries past the index stored there (see
// CopierRefresh). Reads wait meanwhile. It does nothing on the writer, in
// replay mode, or when the database is current.
func (n *Node) Refresh(ctx context.Context) error {
	_, err := n.refreshTo(ctx, n.raft.AppliedIndex())
	return err
}

// refreshTo refreshes unless the database already holds every SQL entry
// up to target; refreshed says whether it did.
func (n *Node) refreshTo(ctx context.Context, target uint64) (refreshed bool, err error) {
	if n.closed() {
		return false, ErrClosed
	}
	if n.cfg.CopierMode != CopierRefresh || n.eng.currentFor(target) {
		return false, nil
	}
	r := n.ref
	if err := r.lock(ctx); err != nil {
		return false, err
	}
	defer r.unlock()
	if n.eng.currentFor(target) {
		return false, nil // another refresh did it
	}
	st := n.raft.State()
	me, member := st.Member(n.id)
	w, hasWriter := st.Member(st.Writer)
	switch {
	case !member || st.Writer == n.id || !hasWriter:
		return false, fmt.Errorf("%w: no writer to refresh from", ErrNotReady)
	case me.Excluded || st.Resetting == n.id:
		return false, fmt.Errorf("%w: this copier resets first", ErrNotReady)
	}
	if v, ok := n.store.(interface{ View() *cow.View }); ok {
		if cv := v.View(); cv == nil || cv.Role() != cow.RoleCopier || cv.Invalidated() != nil {
			return false, fmt.Errorf("%w: no valid copier view to refresh", ErrNotReady)
		}
	}
	start := time.Now()
	// A storage call (a failover, say) cancels it rather than wait.
	rctx, done := r.cancelable(ctx, n.cfg.Timeouts.DefaultOp)
	err = n.store.Reset(rctx, st.Epoch, w)
	done()
	if err != nil {
		r.failed.Add(1)
		// The database may be closed now, or its view refused: a reset
		// (the cluster's reset slot) reopens it if no refresh does first.
		n.eng.needReset()
		return false, fmt.Errorf("cluster: %s: refresh: %w", n.id, err)
	}
	d := time.Since(start)
	r.count.Add(1)
	r.lastNanos.Store(int64(d))
	if len(r.durs) < keepDurations {
		r.durs = append(r.durs, d)
	} else {
		r.durs[r.durAt] = d
		r.durAt = (r.durAt + 1) % keepDurations
	}
	return true, nil
}

// freshen makes a read at an index target (which this node has applied)
// see it on a refresh-mode copier: it refreshes unless the database holds
// target already. Where no refresh can run now (no writer during a
// failover, a copier about to reset), it replays the missing entries
// into the overlay instead.
func (n *Node) freshen(ctx context.Context, target uint64) error {
	if n.cfg.CopierMode != CopierRefresh || n.eng.currentFor(target) {
		return nil
	}
	_, err := n.refreshTo(ctx, target)
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	if _, release, aerr := n.eng.acquire(ctx); aerr != nil {
		return errors.Join(err, aerr)
	} else {
		release()
	}
	e := n.eng
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.db != nil && e.mu.db.AppliedIndex() >= min(target, e.mu.lastSQL) {
		return nil
	}
	if aerr := e.advanceLocked(target); aerr != nil {
		return errors.Join(err, aerr)
	}
	return nil
}
