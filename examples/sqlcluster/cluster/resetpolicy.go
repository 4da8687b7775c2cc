package cluster

import "math"

// Reset policy defaults (Config.ResetThreshold, Config.ResetFraction): a
// copier resets once its overlay holds an eighth of the database, and
// never below 4 MiB, where a reset (0.5-1 s of reads waiting on that
// copier) would come too often for the space it saves.
const (
	DefaultResetThreshold = 4 << 20
	DefaultResetFraction  = 0.125
)

// resetAt is raftcluster's ResetAt: max(ResetThreshold, ResetFraction ×
// the database's size as last seen by noteDBBytes). It takes no lock: the
// leader loop calls it, and must not wait for a view that is being
// promoted or reset.
func (n *Node) resetAt() int64 {
	floor := n.cfg.ResetThreshold
	if n.cfg.ResetFraction <= 0 {
		return floor
	}
	f := n.cfg.ResetFraction * float64(n.dbBytes.Load())
	if f >= math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return max(floor, int64(f))
}

// noteDBBytes records the database's size as this node's view shows it
// (the shared file on the writer; nearly the same on a copier). It runs on
// the storage loop (through OverlayBytes), which is also what promotes and
// resets the view, so it never waits for those.
func (n *Node) noteDBBytes() {
	if v := n.eng.publishedView(); v != nil {
		if fi, err := v.Stat(n.cfg.DBName); err == nil {
			n.dbBytes.Store(fi.Size())
		}
	}
}
