//go:build !nocluster

package main

import (
	"fmt"
	"time"
)

// figFailover measures figure 5: the writer (the Raft leader) is killed
// as a crash would (no Leave, connections cut); the time until a write is
// accepted again, over sc.Kills kills. After each kill the dead member is
// removed and a fresh one added, so that every kill starts from three
// voters.
func figFailover(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig5-failover", 5*time.Minute, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	if err != nil {
		return err
	}
	defer done()
	var ms []float64
	if err := bc.waitVoters(ctx, 3, 30*time.Second); err != nil {
		return fmt.Errorf("bench: waiting for 3 voters: %w", err)
	}
	for k := range e.sc.Kills {
		w, err := bc.Writer(ctx)
		if err != nil {
			return err
		}
		if _, err := bc.exec(ctx, "INSERT INTO t(v) VALUES ('before')"); err != nil {
			return err
		}
		id := w.ID()
		t0 := time.Now()
		if err := bc.Kill(id); err != nil {
			return err
		}
		attempts := 0
		for {
			attempts++
			actx, acancel := e.withTimeout(2 * time.Second)
			_, err := bc.exec(actx, "INSERT INTO t(v) VALUES ('after')")
			acancel()
			if err == nil {
				break
			}
			if time.Since(t0) > 30*time.Second || ctx.Err() != nil {
				return fmt.Errorf("bench: no write accepted %v after killing %s: %w", time.Since(t0), id, err)
			}
		}
		d := time.Since(t0)
		ms = append(ms, float64(d.Microseconds())/1000)
		e.p.Printf("fig5: kill %d/%d (%s): writes accepted after %.0f ms (%d attempts)", k+1, e.sc.Kills, id, ms[len(ms)-1], attempts)
		if err := bc.Remove(ctx, id); err != nil {
			return fmt.Errorf("bench: remove %s: %w", id, err)
		}
		if _, err := bc.AddNode(ctx); err != nil {
			return fmt.Errorf("bench: add a node after kill %d: %w", k+1, err)
		}
		if err := bc.waitVoters(ctx, 3, 30*time.Second); err != nil {
			return fmt.Errorf("bench: waiting for 3 voters after kill %d: %w", k+1, err)
		}
	}
	e.rep.Set("failover_ms_p50", percentile(ms, 50))
	e.rep.Set("failover_ms_p99", percentile(ms, 99))
	e.rep.Detail("fig5: %d kills, LAN timeouts (raftcluster.LANTimeouts); failover ms %s", len(ms), fmtFloats(ms))
	return nil
}
