//go:build !nocluster

package main

import (
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
)

// figLag measures figure 7: from the moment the leader acknowledges a
// write (Execute returns) until a read on a copier, at consistency level
// none (its own database as it is), returns the row.
func figLag(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig7-lag", 2*time.Minute, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	if err != nil {
		return err
	}
	defer done()
	c, err := bc.copier(ctx)
	if err != nil {
		return err
	}
	var ms []float64
	for i := range e.sc.LagSamples {
		if _, err := bc.exec(ctx, "INSERT INTO t(id, v) VALUES (?, 'x')", int64(i+1)); err != nil {
			return err
		}
		d, err := poll(ctx, 10*time.Second, func() (bool, error) { return hasRow(ctx, c, cluster.LevelNone, int64(i+1)) })
		if err != nil {
			return err
		}
		ms = append(ms, float64(d.Microseconds())/1000)
	}
	e.rep.Set("lag_ms_p50", percentile(ms, 50))
	e.rep.Set("lag_ms_p99", percentile(ms, 99))
	e.rep.Detail("fig7: %d writes, copier %s; lag max %.2f ms", len(ms), c.ID(), percentile(ms, 100))
	e.p.Printf("fig7: lag p50 %.2f ms, p99 %.2f ms", percentile(ms, 50), percentile(ms, 99))
	return nil
}
