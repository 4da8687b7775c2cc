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
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
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

// refreshState is the engine's side of refresh mode. on is set before
// the first Open and never changes; behindSince is guarded by the
// replica's apply lock.
type refreshState struct {
	on bool
	// behindSince is when the database last fell behind the log (the
	// first SQL entry it skipped while current).
	behindSince time.Time
}

// skips reports whether the replica leaves SQL entries to the next
// refresh: refresh mode, on a copier view.
func (e *engine) skips(view vfs.FS) bool {
	return e.rf.on && view != nil && !replica.IsWriterView(view)
}

// skipLocked handles a SQL entry at index that a refresh-mode copier
// does not apply (under the apply lock). Checksums are served by
// checksumAtRefresh on such a copier; the replica fails one that waits in
// replica.Replica.At from before the member became one.
func (e *engine) skipLocked(index uint64, st replica.State[*sqlDB]) {
	if !st.Open || st.LastCommand <= st.Applied {
		e.rf.behindSince = time.Now()
	}
}

// behind returns how long the database has missed a SQL entry handed to
// apply (0: current, or not in refresh mode, or not open).
func (e *engine) behind() (d time.Duration) {
	e.rep.Locked(func(st replica.State[*sqlDB]) {
		if e.skips(st.View) && st.Open && st.LastCommand > st.Applied {
			d = time.Since(e.rf.behindSince)
		}
	})
	return d
}

// currentFor reports whether the published database holds every SQL
// entry up to target (which apply has been handed). The last SQL entry at
// or below target is not known exactly: min(target, LastCommand) bounds
// it.
func (e *engine) currentFor(target uint64) (ok bool) {
	e.rep.Locked(func(st replica.State[*sqlDB]) {
		ok = st.Open && st.Ready && st.Applied >= min(target, st.LastCommand)
	})
	return ok
}

// checksumAtRefresh is checksumAt on a refresh-mode copier: the database
// holds the state at its stored index until the next refresh, so it is
// brought to index by replaying the entries in between (none are applied
// as they commit). ok is false when the node is not such a copier.
func (e *engine) checksumAtRefresh(ctx context.Context, rn *raftcluster.Node, index uint64) (sum sqlnode.Checksum, ok bool, err error) {
	var skips bool
	e.rep.Locked(func(st replica.State[*sqlDB]) { skips = e.skips(st.View) })
	if !skips {
		return sum, false, nil
	}
	if err := rn.WaitApplied(ctx, index); err != nil {
		return sum, true, err
	}
	cerr := e.rep.CatchUpTo(index, func(st replica.State[*sqlDB]) {
		switch {
		case !e.skips(st.View):
			err = fmt.Errorf("%w: checksum at %d: the member's role changed", ErrNotReady, index)
		case st.Applied > index:
			err = fmt.Errorf("%w: asked %d, database at %d", ErrPassed, index, st.Applied)
		default:
			sum, err = e.checksum(st, index)
		}
	})
	if cerr != nil {
		return sqlnode.Checksum{}, true, cerr
	}
	return sum, true, err
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
	if aerr := n.eng.rep.CatchUpTo(target, nil); aerr != nil {
		return errors.Join(err, aerr)
	}
	return nil
}
