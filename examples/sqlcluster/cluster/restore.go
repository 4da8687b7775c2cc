package cluster

import (
	"errors"
	"fmt"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
)

// errBehindSnapshot marks a database withdrawn because Raft installed a
// snapshot past it: the entries in between never reach apply.
var errBehindSnapshot = errors.New("cluster: a Raft snapshot was installed past the database")

// onRestore is raftcluster's OnRestore (on the FSM goroutine): a snapshot
// replaced the cluster state at index, and the application entries up to
// index will not be handed to apply. The log is compacted eagerly, so a
// member whose log fell behind the leader's compaction (a long absence, a
// restart) gets the snapshot and only the entries after it. A database
// that is open and behind index may miss some of those entries: it is
// withdrawn and reopened (recoverLoop). On a view that shows shared
// storage as it is (a fresh one), the catch-up starts from the index
// stored there, which covers every compacted entry; on a copier view with
// changes of its own, the catch-up finds the gap in the log
// (raftcluster.ErrCompacted) and the member asks for a reset
// (needReset), which drops the overlay and reopens on shared storage.
// A database not open now catches up when it opens.
//
// Until a catch-up on the view succeeds, the view counts as gapped
// (e.mu.gap): it must not be promoted (dropGapView).
func (e *engine) onRestore(index uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closedOnce || e.mu.fsys == nil {
		return
	}
	if e.mu.lastSeen >= index || e.mu.db != nil && e.mu.db.AppliedIndex() >= index {
		return
	}
	if !freshView(e.mu.fsys) {
		e.mu.gap = true
	}
	if e.mu.db == nil {
		return // broken: its reopening catches up, or finds the gap
	}
	e.log.Info("cluster: snapshot installed past the database; reopening", "node", e.id,
		"snapshot", index, "database", e.mu.db.AppliedIndex())
	e.unpublish()
	e.markBrokenLocked(fmt.Errorf("%w: snapshot at %d, database at %d", errBehindSnapshot, index, e.mu.db.AppliedIndex()))
	e.mu.lastTry = e.mu.lastTry.Add(-recoverEvery) // due at once
}

// noteCatchUpErrLocked asks for a reset when a catch-up on this view
// cannot succeed: the log no longer holds what the database misses.
func (e *engine) noteCatchUpErrLocked(err error) {
	if !errors.Is(err, raftcluster.ErrCompacted) {
		return
	}
	e.mu.gap = true
	if e.needReset != nil {
		e.needReset()
	}
}

// errGap is the cause with which dropGapView invalidates a copier view.
var errGap = errors.New("cluster: the copier's database misses entries its Raft log no longer holds")

// dropGapView runs before this member becomes the writer. A copier view
// whose database misses entries that the log no longer holds (a Raft
// snapshot was installed past it, or a catch-up on it found the gap) must
// not be promoted: Promote would make shared storage equal to that older
// database, undoing acknowledged writes of the previous writer that are
// in no log any more. It invalidates such a view, so that the Storage
// opens a fresh writer view on shared storage as the previous writer left
// it (which reflects every compacted entry, compaction following the
// writer's durable markers) and the engine catches up from the index
// stored there; if the member does not become the writer after all, it
// resets (needReset). It reports whether it invalidated the view.
func (e *engine) dropGapView() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.mu.gap && !e.rf.on {
		return false
	}
	v, ok := e.mu.fsys.(*cow.View)
	if !ok || v.Role() != cow.RoleCopier {
		return false
	}
	if !e.mu.gap {
		// Refresh mode: the copier's database is a snapshot older than
		// shared storage; promoting it would undo the writer's later
		// mutations. Start from shared storage and replay the tail.
		v.Invalidate(errRefreshPromote)
		e.log.Info("cluster: refresh-mode copier becomes the writer on a fresh writer view", "node", e.id)
		if e.needReset != nil {
			e.needReset()
		}
		return true
	}
	v.Invalidate(errGap)
	e.log.Warn("cluster: becoming the writer with a gapped copier view: dropping it for a fresh writer view", "node", e.id)
	if e.needReset != nil {
		e.needReset()
	}
	return true
}
