//go:build nocluster

package main

// clusterFigures, built with -tags nocluster (for a tree whose
// examples/sqlcluster/cluster does not build), reports the figures that
// need the cluster as not measured.
func clusterFigures() []figure {
	keys := []string{"raft_log_bytes_per_write", "write_amplification"}
	for _, fig := range []int{5, 6, 7, 8, 9, 10} {
		keys = append(keys, keysOf(fig)...)
	}
	return []figure{{0, "cluster figures", keys, func(e *env) error {
		for _, k := range keys {
			e.rep.NotMeasured(k, "built with -tags nocluster: the replicated SQL cluster (examples/sqlcluster/cluster) was left out")
		}
		return nil
	}}}
}
