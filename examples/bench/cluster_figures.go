//go:build !nocluster

package main

// clusterFigures returns the figures that need the replicated SQL
// cluster (examples/sqlcluster/cluster): the Raft half of figure 3, and
// figures 5 to 12.
func clusterFigures() []figure {
	return []figure{
		{3, "fig3 Raft log and write amplification", []string{"raft_log_bytes_per_write", "write_amplification"}, figRaftIO},
		{5, "fig5 failover", keysOf(5), figFailover},
		{6, "fig6 join cost", []string{"join_bytes_10mib", "join_bytes_100mib", "join_bytes_1gib"}, figJoin},
		{6, "fig6 join cost, default settings", []string{"join_bytes_100mib_default"}, figJoinDefault},
		{7, "fig7 replication lag", keysOf(7), figLag},
		{8, "fig8 GC cost", keysOf(8), figGC},
		{9, "fig9 group commit", keysOf(9), figGroupCommit},
		{10, "fig10 server mode", keysOf(10), figServe},
		{11, "fig11 copier modes: replay and refresh", keysOf(11), figRefresh},
		{12, "fig12 copier modes: space, CPU per process, steady writer, restart", keysOf(12), figModes},
	}
}
