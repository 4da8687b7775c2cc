package cluster

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
