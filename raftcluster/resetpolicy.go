package raftcluster

// resetThreshold is the overlay size at which a copier gets the reset
// slot now (<= 0: never).
func (n *Node) resetThreshold() int64 {
	if n.cfg.ResetAt != nil {
		return n.cfg.ResetAt()
	}
	return n.cfg.ResetThreshold
}
