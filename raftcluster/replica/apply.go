package replica

import (
	"fmt"
	"time"
)

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
