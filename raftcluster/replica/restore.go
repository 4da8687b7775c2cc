package replica

import (
	"errors"
	"fmt"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
)

// errBehindSnapshot marks a database withdrawn because the log installed
// a snapshot past it: the entries in between never reach Apply.
var errBehindSnapshot = errors.New("replica: a Raft snapshot was installed past the database")

// ErrGap is the cause with which DropGapView invalidates a copier view
// whose database misses entries the log no longer holds; ErrStaleCopier
// the cause for a copier of a Config.StaleCopier replica.
var (
	ErrGap         = errors.New("replica: the copier's database misses entries its log no longer holds")
	ErrStaleCopier = errors.New("replica: a copier whose database is older than shared storage becomes the writer on a fresh writer view")
)

// OnRestore is raftcluster's OnRestore: a snapshot replaced the cluster
// state at index, and the entries up to index will not be handed to
// Apply. A database that is open and behind index may miss some of them:
// it is withdrawn and reopened by the recovery loop. On a fresh view the
// catch-up starts from the index stored there, which covers every
// compacted entry; on a copier view with changes of its own it finds the
// gap (raftcluster.ErrCompacted) and the replica asks for a reset
// (Hooks.NeedReset). Until a catch-up on the view succeeds, the view
// counts as gapped and DropGapView drops it.
func (r *Replica[D]) OnRestore(index uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed || r.mu.view == nil {
		return
	}
	if r.mu.lastSeen >= index || r.mu.open && r.mu.applied >= index {
		return
	}
	if !FreshView(r.mu.view) {
		r.mu.gap = true
	}
	if !r.mu.open {
		return // broken: its reopening catches up, or finds the gap
	}
	r.cfg.Logger.Info("replica: snapshot installed past the database; reopening", "node", r.cfg.Name,
		"snapshot", index, "database", r.mu.applied)
	r.unpublish()
	r.markBrokenLocked(fmt.Errorf("%w: snapshot at %d, database at %d", errBehindSnapshot, index, r.mu.applied))
	r.mu.lastTry = r.mu.lastTry.Add(-r.cfg.RecoverEvery) // due at once
}

// noteCatchUpErrLocked asks for a reset when a catch-up on this view
// cannot succeed: the log no longer holds what the database misses.
func (r *Replica[D]) noteCatchUpErrLocked(err error) {
	if !errors.Is(err, raftcluster.ErrCompacted) {
		return
	}
	r.mu.gap = true
	if h := r.cfg.Hooks.NeedReset; h != nil {
		h()
	}
}

// DropGapView runs before this member becomes the writer. A copier view
// whose database misses entries that the log no longer holds must not be
// promoted: promotion would make shared storage equal to that older
// database, undoing acknowledged writes that are in no log any more. It
// invalidates such a view (and, with Config.StaleCopier, every copier
// view), so that the Storage opens a fresh writer view on shared storage
// as the previous writer left it and the replica catches up from the
// index stored there; if the member does not become the writer after
// all, it resets (Hooks.NeedReset). It reports whether it invalidated the
// view.
func (r *Replica[D]) DropGapView() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mu.gap && !r.cfg.StaleCopier {
		return false
	}
	v, ok := r.mu.view.(*cow.View)
	if !ok || v.Role() != cow.RoleCopier {
		return false
	}
	cause := ErrGap
	if !r.mu.gap {
		cause = ErrStaleCopier
	}
	v.Invalidate(cause)
	r.cfg.Logger.Info("replica: dropping the copier view before promotion", "node", r.cfg.Name, "why", cause)
	if h := r.cfg.Hooks.NeedReset; h != nil {
		h()
	}
	return true
}
