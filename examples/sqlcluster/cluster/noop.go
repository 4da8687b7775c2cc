package cluster

import "github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"

// SetNoopApply, for benchmarks only, makes this member apply every SQL
// entry as a no-op: the entry still goes through Execute (sqlnode.Prepare),
// the Raft log, the transport and the application callback, but its
// statements never reach SQLite, and Execute's precheck is skipped; the
// entry's response has no results. A cluster whose every member runs so
// measures the ceiling of the path around the database
// (examples/bench's raft_ceiling_ratio_*, "sqlcluster serve
// -bench-noop-apply"). Set it on every member before the first write,
// and never on a cluster whose data matters: the database does not
// receive the writes the log acknowledges (but a catch-up, when a member
// reopens its database, replays them for real).
func (n *Node) SetNoopApply(on bool) { n.eng.noop.Store(on) }

// noopLocked handles the SQL entry at position i of the batch of a
// member set to SetNoopApply: applied, with an empty response. The
// database's state and lastSQL stay as they were (the entry is not in
// the database).
func (r *applyRun) noopLocked(i int, index uint64) {
	e := r.e
	e.keepResult(e.node(), index, sqlnode.Response{Index: index})
	r.out[i] = respApplied
}
