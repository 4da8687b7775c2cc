package cluster

import (
	"math"
	"strings"
)

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

// walAutoCheckpoint is the wal_autocheckpoint (in pages) of every view, in
// WAL mode: a quarter of the reset floor (ResetThreshold), at most
// SQLite's default of 1000 pages, at least 1; 0 (no setting) for a
// rollback journal.
//
// A copier runs SQLite on its own view, so what its checkpoints copy from
// its WAL into the database lands in its overlay at once, and its WAL is
// in the overlay too. A copier's view starts, after every reset, with the
// writer's WAL as shared storage holds it; its first checkpoint copies
// every distinct page of that WAL into the overlay. With SQLite's 1000
// pages (4 MiB) on both sides, a reset of a copier of a database of a few
// MiB left an overlay the size of the database, and of a larger one an
// overlay at the 4 MiB floor, so resets could follow each other. With a
// quarter of the floor on the writer and on the copier, a copier's overlay
// after a reset holds at most half the floor (the inherited WAL's pages
// and its own WAL), and grows from there by the distinct pages it
// checkpoints, as with a rollback journal. Never checkpointing on copiers
// instead keeps the inherited pages out but puts every frame in the
// overlay: 2000 sequential inserts (3 in-process members) grew a copier's
// overlay to 11 MiB, with 2 resets, against 1.2 MiB and none this way.
func walAutoCheckpoint(journalMode string, resetThreshold int64) int {
	if jm := strings.ToUpper(journalMode); jm != "" && jm != "WAL" {
		return 0
	}
	if resetThreshold <= 0 {
		resetThreshold = DefaultResetThreshold
	}
	return int(min(max(resetThreshold/4/PageSize, 1), 1000))
}
