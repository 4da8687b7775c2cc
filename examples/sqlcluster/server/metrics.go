package server

import (
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the node's figures (cluster.Node.Stats, the
// raftcluster state, netstorage.Storage.Stats with its stability
// counters) as Prometheus metrics, read at each scrape.
//
// Concurrency: safe for concurrent use (it only reads thread-safe Stats).
type collector struct {
	node  *cluster.Node
	store *netstorage.Storage // nil: no stability figures
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("holeycow_"+name, help, labels, nil)
}

var (
	dAppliedIndex = desc("raft_applied_index", "Last Raft log index applied on this node.")
	dCommitIndex  = desc("raft_commit_index", "Raft commit index known to this node.")
	dFirstIndex   = desc("raft_first_index", "First index this node's Raft log holds: entries before it were compacted away (applied index minus this is the log kept).")
	dLag          = desc("replication_lag_entries", "Commit index minus applied index on this node: entries committed but not yet applied here.")
	dDBIndex      = desc("db_applied_index", "Last SQL log entry stored in this node's database.")
	dDurable      = desc("durable_index", "How far the shared database is known to be durable (the log compaction bound).")
	dLeader       = desc("is_leader", "1 if this node is the Raft leader.")
	dWriter       = desc("is_writer", "1 if this node is the writer of shared storage.")
	dEpoch        = desc("writer_epoch", "Epoch of the current writer term.")
	dFailovers    = desc("writer_changes_total", "Writer terms after the first one (each leadership change moves the writer).")
	dExcludedNow  = desc("members_excluded", "Members the replicated state lists as excluded.")
	dMembers      = desc("members", "Members of the cluster.")
	dOverlay      = desc("overlay_bytes", "Size of this copier's overlay (0 on the writer).")
	dResets       = desc("copier_resets_total", "Completed resets (garbage collections) of this node's copier view.")
	dReopens      = desc("db_reopens_total", "Reopenings of this node's database (resets, failovers, recoveries).")
	dPromotions   = desc("promotions_total", "Copier views this node promoted to writer.")
	dFresh        = desc("fresh_writer_views_total", "Writer views this node opened afresh on shared storage (its copier view could not be promoted).")
	dStoreResets  = desc("stability_resets_total", "Successful resets of an existing copier view through the writer's handshake.")
	dJoins        = desc("stability_joins_total", "Successful joins of fresh copier views with the writer.")
	dExclusions   = desc("exclusions_total", "Copiers this node excluded while it was the writer.")
	dRounds       = desc("stability_rounds_total", "Stabilization rounds that reached a copier (current writer term).")
	dRoundRegions = desc("stability_round_regions_total", "Regions preserved in stabilization rounds (current writer term).")
	dMessages     = desc("stability_messages_total", "Stability messages acknowledged, heartbeats included (current role).")
	dHeartbeats   = desc("stability_heartbeats_total", "Stability heartbeats acknowledged (current writer term).")
	dRoundLatency = desc("stability_round_seconds", "Stabilization round latency estimate (current writer term; bucketed, ±10%).", "quantile")
	dLapses       = desc("stability_lease_lapses_total", "Times this copier's lease lapsed and its view was invalidated (current copier role).")
	dPreserved    = desc("stability_preserved_regions_total", "Regions this copier preserved (current copier role).")
	dStale        = desc("stability_stale_epoch_total", "Stability requests refused or refusals received for a stale epoch (current role).")
	dLeaseRenew   = desc("writer_lease_guard_renewals_total", "Mutations that found the writer lease lapsed and renewed it first (a slow quorum round).")
	dLeaseRefuse  = desc("writer_lease_guard_refusals_total", "Mutations refused because the writer lease lapsed and could not be renewed.")
	dApplyFailing = desc("apply_failing", "1 if applying log entries fails on this node now, by kind (storage-full: every writer would fail alike; fenced; invalidated; io).", "kind")
	dApplyStreak  = desc("apply_consecutive_failures", "Consecutive failed applies or reopenings on this node (0 once one succeeds).")
	dApplyFails   = desc("apply_failures_total", "Apply transactions that failed on this node (the entries stayed unapplied and were replayed).")
	dHandOvers    = desc("apply_hand_overs_total", "Leadership hand-overs this node made because its applies kept failing.")
	dRefreshes    = desc("copier_refreshes_total", "Refreshes of this node's database while a copier in refresh mode (-copier-mode refresh; 0 in replay mode).")
	dRefreshFails = desc("copier_refresh_failures_total", "Refreshes that failed on this node (refresh mode).")
	dBehind       = desc("copier_behind_seconds", "How long this refresh-mode copier's database has missed a committed write (0 when current, on the writer, or in replay mode).")
)

var allDescs = []*prometheus.Desc{dAppliedIndex, dCommitIndex, dFirstIndex, dLag, dDBIndex, dDurable, dLeader, dWriter,
	dEpoch, dFailovers, dExcludedNow, dMembers, dOverlay, dResets, dReopens, dPromotions, dFresh, dStoreResets, dJoins, dExclusions,
	dRounds, dRoundRegions, dMessages, dHeartbeats, dRoundLatency, dLapses, dPreserved, dStale, dLeaseRenew, dLeaseRefuse,
	dApplyFailing, dApplyStreak, dApplyFails, dHandOvers, dRefreshes, dRefreshFails, dBehind}

var _ prometheus.Collector = (*collector)(nil)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	ctr := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ns := c.node.Stats()
	rn := c.node.Raft()
	st := rn.State()
	commit := rn.CommitIndex()
	g(dAppliedIndex, float64(ns.AppliedIndex))
	g(dCommitIndex, float64(commit))
	if first, err := rn.FirstLogIndex(); err == nil {
		g(dFirstIndex, float64(first))
	}
	g(dLag, float64(commit-min(commit, ns.AppliedIndex)))
	g(dDBIndex, float64(ns.DBIndex))
	g(dDurable, float64(ns.Durable))
	g(dLeader, b2f(ns.Leader))
	g(dWriter, b2f(ns.Writer))
	g(dEpoch, float64(st.Epoch))
	ctr(dFailovers, int64(max(st.Epoch, 1)-1))
	excl := 0
	for _, m := range st.Members {
		if m.Excluded {
			excl++
		}
	}
	g(dExcludedNow, float64(excl))
	g(dMembers, float64(len(st.Members)))
	g(dOverlay, float64(ns.OverlayBytes))
	ctr(dResets, ns.Resets)
	ctr(dReopens, ns.Reopens)
	for _, k := range []cluster.FailureKind{cluster.FailureStorageFull, cluster.FailureFenced, cluster.FailureInvalidated, cluster.FailureIO} {
		g(dApplyFailing, b2f(ns.Apply.Failing && ns.Apply.Kind == k), string(k))
	}
	g(dApplyStreak, float64(ns.Apply.Consecutive))
	ctr(dApplyFails, ns.ApplyFailures)
	ctr(dHandOvers, ns.Apply.HandOvers)
	rs := c.node.RefreshStats()
	ctr(dRefreshes, rs.Refreshes)
	ctr(dRefreshFails, rs.Failed)
	g(dBehind, rs.Behind.Seconds())
	ls := rn.LeaseStats()
	ctr(dLeaseRenew, ls.GuardRenewals)
	ctr(dLeaseRefuse, ls.GuardRefusals)
	if c.store == nil {
		return // no stability figures (tests)
	}
	ss := c.store.Stats()
	ctr(dPromotions, ss.Promotions)
	ctr(dFresh, ss.FreshWriters)
	ctr(dStoreResets, ss.Resets)
	ctr(dJoins, ss.Joins)
	ctr(dExclusions, ss.Excluded)
	s := ss.Stability
	ctr(dRounds, s.Rounds)
	ctr(dRoundRegions, s.RoundRegions)
	ctr(dMessages, s.Messages)
	ctr(dHeartbeats, s.Heartbeats)
	g(dRoundLatency, s.RoundP50.Seconds(), "0.5")
	g(dRoundLatency, s.RoundP99.Seconds(), "0.99")
	ctr(dLapses, s.LeaseLapses)
	ctr(dPreserved, s.Preserved)
	ctr(dStale, s.StaleEpochRefusals+s.StaleEpochGot)
}
