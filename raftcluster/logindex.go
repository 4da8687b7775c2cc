package raftcluster

// FirstLogIndex returns the first index this node's Raft log store holds
// (0 if it holds none): everything before it was compacted away after a
// snapshot. Operators watch it (with AppliedIndex) to see how much log a
// member keeps.
func (n *Node) FirstLogIndex() (uint64, error) {
	first, err := n.stores.Log.FirstIndex()
	if err != nil {
		return 0, &OpError{Op: "first-log-index", Err: err}
	}
	return first, nil
}
