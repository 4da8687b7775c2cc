package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
)

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
