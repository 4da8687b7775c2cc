//go:build !nocluster

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// refreshModes are the copier modes figure 10 compares, in one run.
var refreshModes = []cluster.CopierMode{cluster.CopierReplay, cluster.CopierRefresh}

// figRefresh measures figure 10, the two ways a copier follows the
// writer (cluster.CopierReplay, cluster.CopierRefresh), each on a
// 3-member cluster at default settings but the mode:
//
//   - copier_overlay_fraction_<mode>: the largest copier overlay ÷ the
//     database's size after sc.RefreshWrites writes (a 1 KiB insert and
//     an update of a random row of a preloaded table each), the reset
//     policy at its defaults: one sample of a sawtooth (a copier's
//     overlay grows to the reset threshold, about 0.9 of the quick
//     database, then resets), so it varies between runs from near 0 to
//     about 1; a detail line gives the mean and the largest overlay
//     sampled during the writes and the resets;
//   - copier_cpu_ratio_<mode>: process CPU per write of the 3-member
//     cluster minus that of a 1-member cluster (the writer alone), split
//     over the two copiers, ÷ the 1-member cluster's, each less the
//     cluster's idle CPU over the same time (this charges the writer's
//     own replication and stability work, and the Raft followers', to the
//     copiers: an upper bound);
//   - refresh_ms_p50/_p99 (refresh mode): one refresh, lag or on demand;
//   - lag_ms_<mode>_p50/_p99: write acknowledged → visible on a copier at
//     level none;
//   - weak_read_us_<mode>_p50: a point read at LevelWeak on a copier
//     right after a write (refresh mode refreshes on demand);
//   - failover_ms_<mode>_p50: writer killed → a write accepted.
func figRefresh(e *env) error {
	base, err := e.refreshCPU(1, cluster.CopierReplay)
	if err != nil {
		return err
	}
	e.p.Printf("fig11: 1 member: %.0f µs CPU per write", base.cpuPerWrite*1e6)
	for _, m := range refreshModes {
		r, err := e.refreshCPU(3, m)
		if err != nil {
			return err
		}
		ratio := (r.cpuPerWrite - base.cpuPerWrite) / 2 / base.cpuPerWrite
		if ratio > 0 {
			e.rep.Set("copier_cpu_ratio_"+m.String(), ratio)
		} else {
			e.rep.NotMeasured("copier_cpu_ratio_"+m.String(), fmt.Sprintf("the 3-member cluster's CPU per write (%.0f µs) is within the noise of the 1-member one's (%.0f µs)", r.cpuPerWrite*1e6, base.cpuPerWrite*1e6))
		}
		e.rep.Set("copier_overlay_fraction_"+m.String(), r.overlayFraction)
		e.p.Printf("fig11 %s: %.0f µs CPU per write (copier ÷ writer %.3f), overlay ÷ database %.4f", m, r.cpuPerWrite*1e6, ratio, r.overlayFraction)
		if m == cluster.CopierRefresh {
			e.rep.Set("refresh_ms_p50", percentile(r.refreshMs, 50))
			e.rep.Set("refresh_ms_p99", percentile(r.refreshMs, 99))
			e.rep.Detail("fig11: %d refreshes during %d writes (refresh lag %v)", len(r.refreshMs), e.sc.RefreshWrites, cluster.DefaultRefreshLag)
		}
		if err := e.refreshLatencies(m); err != nil {
			return err
		}
	}
	return nil
}

type refreshRun struct {
	cpuPerWrite     float64 // seconds
	overlayFraction float64
	refreshMs       []float64
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

const refreshRows = 4000

// refreshCPU runs the write workload on an n-member cluster in mode m.
func (e *env) refreshCPU(n int, m cluster.CopierMode) (refreshRun, error) {
	var out refreshRun
	mark := e.mark()
	defer e.closeTo(mark)
	bc, err := e.startCluster(fmt.Sprintf("fig11-%s-%dn", m, n), n, func(o *localcluster.Options) { o.CopierMode = m })
	if err != nil {
		return out, err
	}
	ctx, cancel := e.withTimeout(5 * time.Minute)
	defer cancel()
	if _, err := bc.exec(ctx, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, pad BLOB)"); err != nil {
		return out, err
	}
	for i := 0; i < refreshRows; i += 500 {
		if _, err := bc.exec(ctx, "INSERT INTO t(id, v, pad) SELECT value, 0, zeroblob(500) FROM generate_series(?, ?)", i+1, i+500); err != nil {
			return out, err
		}
	}
	if err := bc.settle(ctx, 30*time.Second); err != nil {
		return out, err
	}
	rng := e.rng(10)
	ids := make([]int64, e.sc.RefreshWrites)
	for i := range ids {
		ids[i] = 1 + rng.Int64N(refreshRows)
	}
	// The cluster's CPU when idle (heartbeats, leases, tickers) is
	// subtracted: a mode whose writes take longer must not be charged
	// for the idle time in between.
	i0, t0 := cpuSeconds(), time.Now()
	idle := time.NewTimer(2 * time.Second)
	select {
	case <-idle.C:
	case <-ctx.Done():
		idle.Stop()
		return out, ctx.Err()
	}
	idleRate := (cpuSeconds() - i0) / time.Since(t0).Seconds()
	c0, w0 := cpuSeconds(), time.Now()
	var unknown atomic.Int64
	// copier_overlay_fraction is one sample of a sawtooth (the overlay
	// grows to the reset threshold, the copier resets, it grows again):
	// the largest copier overlay is also sampled every 50 ms during the
	// writes, for a detail line that does not depend on where the writes
	// stop in the cycle.
	stopSampling := make(chan struct{})
	sampled := make(chan [3]float64, 1) // mean, max, samples
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var sum, top, count float64
		for {
			select {
			case <-stopSampling:
				sampled <- [3]float64{sum / max(count, 1), top, count}
				return
			case <-tick.C:
			}
			var o int64
			for _, nd := range bc.Nodes() {
				if st := nd.Stats(); !st.Writer {
					o = max(o, st.OverlayBytes)
				}
			}
			sum, top, count = sum+float64(o), max(top, float64(o)), count+1
		}
	}()
	err = clients(ctx, 4, e.sc.RefreshWrites, func(i int) error {
		_, err := bc.execReq(ctx, sqlnode.Request{Statements: []sqlnode.Statement{
			{SQL: "INSERT OR REPLACE INTO t(id, v, pad) VALUES (?, 1, zeroblob(1000))", Params: []sqlnode.Param{{Value: int64(refreshRows + 1 + i)}}},
			{SQL: "UPDATE t SET v = v + 1 WHERE id = ?", Params: []sqlnode.Param{{Value: ids[i]}}},
		}})
		if errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			unknown.Add(1) // under load a writer's lease may lapse: counted, not fatal
			return nil
		}
		return err
	})
	close(stopSampling)
	during := <-sampled
	if u := unknown.Load(); u > 0 {
		e.rep.Detail("fig11 %s, %d members: %d of %d writes had an unknown outcome", m, n, u, e.sc.RefreshWrites)
	}
	if err != nil {
		return out, err
	}
	if err := bc.settle(ctx, 30*time.Second); err != nil {
		return out, err
	}
	out.cpuPerWrite = (cpuSeconds() - c0 - idleRate*time.Since(w0).Seconds()) / float64(e.sc.RefreshWrites)
	w, err := bc.Writer(ctx)
	if err != nil {
		return out, err
	}
	res, err := w.Query(ctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"}})
	if err != nil {
		return out, err
	}
	dbBytes, _ := res[0].Values[0][0].(int64)
	var overlay int64
	for _, nd := range bc.Nodes() {
		if nd != w {
			overlay = max(overlay, nd.Stats().OverlayBytes)
			for _, d := range nd.RefreshStats().Recent {
				out.refreshMs = append(out.refreshMs, float64(d.Microseconds())/1000)
			}
		}
	}
	var resets int64
	for _, nd := range bc.Nodes() {
		resets += nd.Stats().Resets
	}
	if n > 1 && dbBytes > 0 {
		e.rep.Detail("fig11 %s: largest copier overlay during the writes ÷ database: mean %.3f, max %.3f (%.0f samples); %d copier resets; at the end %.3f",
			m, during[0]/float64(dbBytes), during[1]/float64(dbBytes), during[2], resets, float64(overlay)/float64(dbBytes))
	}
	if dbBytes > 0 {
		out.overlayFraction = float64(overlay) / float64(dbBytes)
	}
	return out, nil
}

// refreshLatencies measures lag, weak reads and failover in mode m.
func (e *env) refreshLatencies(m cluster.CopierMode) error {
	mark := e.mark()
	defer e.closeTo(mark)
	bc, err := e.startCluster(fmt.Sprintf("fig11-%s-latency", m), 3, func(o *localcluster.Options) { o.CopierMode = m })
	if err != nil {
		return err
	}
	ctx, cancel := e.withTimeout(5 * time.Minute)
	defer cancel()
	c, err := bc.schemaOnCopier(ctx, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	if err != nil {
		return err
	}
	count := func(level cluster.Level, id int64) (bool, error) { return hasRow(ctx, c, level, id) }
	// A linearizable read makes the copier see the table (refresh mode
	// refreshes on demand), so that reads at level none find it.
	if _, err := count(cluster.LevelLinearizable, 0); err != nil {
		return err
	}
	// insert reports whether the row is surely written: under load a
	// write's outcome may be unknown (a writer lease lapsed); that sample
	// is skipped.
	insert := func(ctx context.Context, id int64) (bool, error) {
		_, err := bc.exec(ctx, "INSERT OR REPLACE INTO t(id, v) VALUES (?, 'x')", id)
		if errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			return false, nil
		}
		return err == nil, err
	}
	var lag, weak []float64
	id := int64(0)
	for range e.sc.LagSamples {
		id++
		if ok, err := insert(ctx, id); err != nil {
			return err
		} else if !ok {
			continue
		}
		d, err := poll(ctx, 10*time.Second, func() (bool, error) { return count(cluster.LevelNone, id) })
		if err != nil {
			return err
		}
		lag = append(lag, float64(d.Microseconds())/1000)
		id++
		if ok, err := insert(ctx, id); err != nil {
			return err
		} else if !ok {
			continue
		}
		t0 := time.Now()
		ok, err := count(cluster.LevelWeak, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("bench: a weak read on %s misses a write acknowledged before it", c.ID())
		}
		weak = append(weak, float64(time.Since(t0).Microseconds()))
	}
	e.rep.Set("lag_ms_"+m.String()+"_p50", percentile(lag, 50))
	e.rep.Set("lag_ms_"+m.String()+"_p99", percentile(lag, 99))
	e.rep.Set("weak_read_us_"+m.String()+"_p50", percentile(weak, 50))
	e.p.Printf("fig11 %s: lag p50 %.2f ms p99 %.2f ms; weak read p50 %.0f µs", m, percentile(lag, 50), percentile(lag, 99), percentile(weak, 50))

	// Failover.
	if err := bc.waitVoters(ctx, 3, 30*time.Second); err != nil {
		return err
	}
	var fo []float64
	for k := range e.sc.RefreshKills {
		w, err := bc.Writer(ctx)
		if err != nil {
			return err
		}
		// Load between kills, so that the copiers are behind by a
		// refresh lag's worth when the writer dies.
		for range 20 {
			id++
			if _, err := insert(ctx, id); err != nil && ctx.Err() != nil {
				return err
			} // else: a leadership change under load; the next write goes on
		}
		t0 := time.Now()
		if err := bc.Kill(w.ID()); err != nil {
			return err
		}
		for {
			id++
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			ok, err := insert(actx, id)
			acancel()
			if ok {
				break
			}
			if time.Since(t0) > 30*time.Second {
				return fmt.Errorf("bench: no write accepted %v after killing %s: %w", time.Since(t0), w.ID(), err)
			}
		}
		fo = append(fo, float64(time.Since(t0).Microseconds())/1000)
		e.p.Printf("fig11 %s: kill %d/%d: writes accepted after %.0f ms", m, k+1, e.sc.RefreshKills, fo[len(fo)-1])
		if err := bc.Remove(ctx, w.ID()); err != nil {
			return err
		}
		if _, err := bc.AddNode(ctx); err != nil {
			return err
		}
		if err := bc.waitVoters(ctx, 3, 30*time.Second); err != nil {
			return err
		}
	}
	e.rep.Set("failover_ms_"+m.String()+"_p50", percentile(fo, 50))
	e.rep.Detail("fig11 %s: failover ms %s", m, fmtFloats(slices.Clone(fo)))
	return nil
}

// hasRow reports whether a read at level on c finds row id of table t.
//
// A read refused because no leader is known (an election on a loaded
// machine) is sent again, as a client would, for up to 10 s.
func hasRow(ctx context.Context, c *cluster.Node, level cluster.Level, id int64) (bool, error) {
	var res []sqlnode.Result
	var err error
	var nl *raftcluster.NotLeaderError
	for try := 0; try < 200; try++ {
		res, err = c.Query(ctx, level, []sqlnode.Statement{{SQL: "SELECT count(*) FROM t WHERE id = ?", Params: []sqlnode.Param{{Value: id}}}})
		if !errors.As(err, &nl) {
			break
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		return false, err
	}
	if len(res) == 1 && level == cluster.LevelNone && strings.Contains(res[0].Error, "no such table") {
		// A copier read at level none before it applied the schema: no
		// row yet.
		return false, nil
	}
	if len(res) != 1 || res[0].Error != "" || len(res[0].Values) != 1 {
		return false, fmt.Errorf("bench: unexpected result %+v", res)
	}
	n, _ := res[0].Values[0][0].(int64)
	return n == 1, nil
}
