//go:build !nocluster

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// figModes measures figure 12: what each copier mode (-copier-mode replay
// or refresh) costs a user who runs "sqlcluster serve", per mode in one
// run:
//
//   - space_amplification_3n_66k_<mode>: bytes on disk (allocated blocks)
//     under the three -data directories and the -shared directory (Raft
//     logs, overlays, the database and its journal) ÷ the logical
//     database (page_count × page_size), after sc.SpaceInserts inserts of
//     100 B from 16 concurrent requests, once the cluster reports the
//     database durable and every node's Raft log is compacted up to
//     there (a node snapshots every second or two once its durable index
//     allows; a detail line gives the figure just after durable, before
//     the followers' compaction);
//   - space_amplification_3n_100mib_<mode>: the same after a further
//     sc.SpaceLoadBytes of 1 KiB rows, 16 to a request;
//   - copier_cpu_ratio_serve_<mode>: during the inserts, utime+stime of
//     each copier process ÷ that of the writer process, each less its
//     own idle CPU over the same time (averaged over the two copiers);
//   - writer_ratio_steady_c3_<mode>: sequential inserts/s through the
//     writer of 3 processes in the mode ÷ the same with refresh copiers
//     that never refresh (-refresh-lag 1h: the writer's copier
//     generation never changes and the copiers apply nothing, the
//     copiers' cheapest way to follow), interleaved rounds;
//   - restart_bytes_10k_<mode> (in process: localcluster counts every
//     byte between members): bytes carried between members while a copier
//     killed before sc.RestartWrites inserts restarts and catches up,
//     once the leader's snapshot reaches the end of the inserts (its log
//     no longer holds the entry TrailingLogs before their last; up to
//     30 s after the inserts: what a user gets after a short pause). The
//     leader also snapshots during the inserts, as the durable index
//     moves: waiting only until the first missed entry is compacted let
//     the restart take a snapshot of the middle of the inserts and every
//     entry after it (about 350 kB at quick scale).
//     Most of it is the members' steady traffic (about 30 kB/s in
//     process: heartbeats, overlay reports, durable markers) over the
//     restart, whose length is mostly the leader's Raft backoff towards
//     the peer that was dead (0.2-5 s): a detail line splits off the
//     restarted member's own bytes. The copier's catch-up itself (Raft
//     snapshot of under 1 KiB, then its reset onto the shared database)
//     is a small part; in process its stability join and reset
//     handshake run on the in-memory network and are not counted.
//
// Under -race the serve figures are not measured (as figure 10).
func figModes(e *env) error {
	var errs []error
	if raceEnabled {
		for _, k := range keysOf(12) {
			if !strings.HasPrefix(k, "restart_bytes_") {
				e.rep.NotMeasured(k, "not measured under -race")
			}
		}
	} else {
		if _, err := e.serveBinary(); err != nil {
			return err
		}
		for _, m := range refreshModes {
			if err := e.modeSpace(m, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
			}
		}
		// Detail lines only: the same in refresh mode with the BoltDB log
		// store (no preallocated log segments), and with no-op applies
		// (what following Raft and stability alone costs a copier).
		for _, v := range [][]string{{"-log-store", "bolt"}, {"-bench-noop-apply"}} {
			if err := e.modeSpace(cluster.CopierRefresh, strings.Join(v, " "), v...); err != nil {
				errs = append(errs, fmt.Errorf("refresh mode %v: %w", v, err))
			}
		}
		if err := e.modeSteady(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range refreshModes {
		if err := e.modeRestart(m); err != nil {
			errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// modeSpace measures space_amplification_3n_* and copier_cpu_ratio_serve
// for mode m; with a variant (extra flags for serve), it reports detail
// lines only.
func (e *env) modeSpace(m cluster.CopierMode, variant string, extra ...string) error {
	mark := e.mark()
	defer e.closeTo(mark)
	ctx, cancel := e.withTimeout(30 * time.Minute)
	defer cancel()
	name := "fig12-space-" + m.String()
	if variant != "" {
		name += strings.ReplaceAll(variant, " ", "")
	}
	// keyed returns key, or "" for a variant (whose figures go to
	// detail lines only).
	keyed := func(key string) string {
		if variant != "" {
			return ""
		}
		return key
	}
	c, err := e.startServe(name, append([]string{"-copier-mode", m.String()}, extra...)...)
	if err != nil {
		return err
	}
	if err := c.exec(ctx, nil, []any{"CREATE TABLE IF NOT EXISTS s(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"},
		[]any{"CREATE TABLE IF NOT EXISTS big(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"}); err != nil {
		return err
	}
	w, err := c.writerProc(ctx)
	if err != nil {
		return err
	}
	// Idle CPU of each process (heartbeats, leases, tickers), subtracted
	// from what it spends under the load.
	i0, t0 := c.perProc()
	tm := time.NewTimer(2 * time.Second)
	select {
	case <-tm.C:
	case <-ctx.Done():
		tm.Stop()
		return ctx.Err()
	}
	i1, t1 := c.perProc()
	idle := map[string]float64{}
	for id, v := range i1 {
		idle[id] = (v - i0[id]).Seconds() / t1.Sub(t0).Seconds()
	}

	r := e.rng(1200)
	var single [][]byte
	for range 64 {
		raw := make([]byte, 50)
		for i := range raw {
			raw[i] = byte(r.UintN(256))
		}
		b, err := json.Marshal([][]any{{"INSERT INTO s(v) VALUES(?)", hex.EncodeToString(raw)}})
		if err != nil {
			return err
		}
		single = append(single, b)
	}
	n := e.sc.SpaceInserts
	c0, s0 := c.perProc()
	var failed atomic.Int64
	err = clients(ctx, serveClients, n, func(i int) error {
		if err := c.post(ctx, w.url()+"/db/execute", single[i%len(single)]); err != nil {
			failed.Add(1) // an election: send it again through the leader (a duplicate adds 100 B)
			return c.retry(ctx, nil, "/db/execute", single[i%len(single)])
		}
		return nil
	})
	if err != nil {
		return err
	}
	c1, s1 := c.perProc()
	secs := s1.Sub(s0).Seconds()
	busy := func(id string) float64 { return (c1[id] - c0[id]).Seconds() - idle[id]*secs }
	var copierCPU []float64
	for _, p := range c.procs {
		if p != w {
			copierCPU = append(copierCPU, busy(p.id))
		}
	}
	cpuKey := keyed("copier_cpu_ratio_serve_" + m.String())
	if wb := busy(w.id); wb > 0 && len(copierCPU) == 2 {
		ratio := (copierCPU[0] + copierCPU[1]) / 2 / wb
		if cpuKey != "" {
			e.rep.Set(cpuKey, ratio)
		}
		e.rep.Detail("fig12 %s: %d inserts of 100 B (16 concurrent, %d resent) in %.1fs: CPU per insert, writer %s %.0f µs, copiers %.0f and %.0f µs (idle CPU subtracted): copier ÷ writer %.3f",
			name, n, failed.Load(), secs, w.id, wb/float64(n)*1e6, copierCPU[0]/float64(n)*1e6, copierCPU[1]/float64(n)*1e6, ratio)
	} else if cpuKey != "" {
		e.rep.NotMeasured(cpuKey, fmt.Sprintf("writer busy CPU %.3fs, %d copiers measured", wb, len(copierCPU)))
	}
	if slices.Contains(extra, "-bench-noop-apply") {
		return nil // no database: its space means nothing
	}
	key := keyed("space_amplification_3n_66k_" + m.String())
	if err := e.spaceAmp(ctx, c, key, fmt.Sprintf("%d inserts of 100 B", n)); err != nil {
		return err
	}
	if n != 66000 && key != "" {
		e.rep.Note(key, fmt.Sprintf("after %d inserts (scaled down from 66k)", n))
	}

	// The load: rows of 1 KiB, 16 to a request, from 8 clients.
	const perReq = 16
	var batches [][]byte
	for range 8 {
		var stmts [][]any
		for range perReq {
			raw := make([]byte, 512)
			for i := range raw {
				raw[i] = byte(r.UintN(256))
			}
			stmts = append(stmts, []any{"INSERT INTO big(v) VALUES(?)", hex.EncodeToString(raw)})
		}
		b, err := json.Marshal(stmts)
		if err != nil {
			return err
		}
		batches = append(batches, b)
	}
	reqs := int(e.sc.SpaceLoadBytes / (perReq << 10))
	lt := time.Now()
	err = clients(ctx, 8, reqs, func(i int) error {
		if err := c.post(ctx, w.url()+"/db/execute?transaction", batches[i%len(batches)]); err != nil {
			return c.retry(ctx, nil, "/db/execute?transaction", batches[i%len(batches)])
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.p.Printf("fig12 %s: loaded %d MiB in %v", name, e.sc.SpaceLoadBytes>>20, time.Since(lt).Round(time.Millisecond))
	key = keyed("space_amplification_3n_100mib_" + m.String())
	if err := e.spaceAmp(ctx, c, key, fmt.Sprintf("a further %d MiB load of 1 KiB rows", e.sc.SpaceLoadBytes>>20)); err != nil {
		return err
	}
	if e.sc.SpaceLoadBytes != 100<<20 && key != "" {
		e.rep.Note(key, fmt.Sprintf("after a %d MiB load (%s scale; the goal is stated for 100 MiB)", e.sc.SpaceLoadBytes>>20, e.sc.Name))
	}
	return nil
}

// spaceAmp waits (up to 30 s) until every node reports the database
// durable up to what the leader has applied, measures (a detail line),
// waits (up to 15 s) until every node's Raft log is compacted up to there
// (each takes a snapshot every second or two once its durable index
// allows: while writes go on, a follower's never does, see the report),
// then sets key to the bytes on disk under the -data and -shared
// directories ÷ the logical database ("": detail line only).
func (e *env) spaceAmp(ctx context.Context, c *serveCluster, key, after string) error {
	l, err := c.waitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	target, err := c.metric(ctx, l, "holeycow_raft_applied_index")
	if err != nil {
		return err
	}
	waited, derr := pollEvery(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		for _, p := range c.procs {
			d, err := c.metric(ctx, p, "holeycow_durable_index")
			if err != nil || d < target {
				return false, nil
			}
		}
		return true, nil
	})
	durable := fmt.Sprintf("durable everywhere after %v", waited.Round(time.Millisecond))
	if derr != nil {
		durable = "not durable everywhere within 30s"
	}
	logical, err := c.queryInt(ctx, l, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
	if err != nil {
		return err
	}
	if logical <= 0 {
		return fmt.Errorf("bench: %s: logical database size %d", c.name, logical)
	}
	if _, err := e.spaceNow(c, logical, after+", "+durable); err != nil {
		return err
	}
	// A node's log is compacted up to target once it took a snapshot
	// there: it then keeps TrailingLogs entries, up to SnapshotThreshold
	// more until its next one.
	keep := float64(raftcluster.DefaultTrailingLogs + raftcluster.DefaultSnapshotThreshold)
	waited, cerr := pollEvery(ctx, 15*time.Second, 50*time.Millisecond, func() (bool, error) {
		for _, p := range c.procs {
			f, err := c.metric(ctx, p, "holeycow_raft_first_index")
			if err != nil || f+keep < target {
				return false, nil
			}
		}
		return true, nil
	})
	compacted := fmt.Sprintf("every log compacted %v later", waited.Round(time.Millisecond))
	if cerr != nil {
		compacted = "not every log compacted within 15s"
	} else {
		// raft-wal deletes the segments that compaction left wholly
		// behind once no reader holds them: give it a few seconds.
		var left []string
		waited, serr := pollEvery(ctx, 5*time.Second, 50*time.Millisecond, func() (bool, error) {
			left = left[:0]
			for _, p := range c.procs {
				f, err := c.metric(ctx, p, "holeycow_raft_first_index")
				if err != nil {
					return false, nil
				}
				n, b, err := staleSegments(filepath.Join(p.data, "raft", "wal"), uint64(f))
				if err != nil {
					return false, err
				}
				if n > 0 {
					left = append(left, fmt.Sprintf("%s %d (%.2f MB)", p.id, n, float64(b)/1e6))
				}
			}
			return len(left) == 0, nil
		})
		switch {
		case serr != nil && len(left) > 0:
			compacted += ", segments wholly before the log's first index still on disk 5s later: " + strings.Join(left, ", ")
		case serr != nil:
			return serr
		case waited > 100*time.Millisecond:
			compacted += fmt.Sprintf(", their segments deleted %v later", waited.Round(time.Millisecond))
		}
	}
	ratio, err := e.spaceNow(c, logical, after+", "+compacted)
	if err != nil {
		return err
	}
	if key != "" {
		e.rep.Set(key, ratio)
	}
	return nil
}

// spaceNow reports (detail lines) the bytes on disk under c's -data and
// -shared directories, the largest files, and their ratio to logical.
func (e *env) spaceNow(c *serveCluster, logical int64, when string) (float64, error) {
	var total int64
	var parts []string
	for _, p := range c.procs {
		b, err := diskBytes(p.data)
		if err != nil {
			return 0, err
		}
		total += b
		parts = append(parts, fmt.Sprintf("%s -data %.2f MB", p.id, float64(b)/1e6))
	}
	var segs int64 // raft-wal's log segments (preallocated), if any
	for _, p := range c.procs {
		b, err := diskBytes(filepath.Join(p.data, "raft", "wal"))
		if err != nil {
			return 0, err
		}
		segs += b
	}
	parts = append(parts, fmt.Sprintf("of which Raft log segments (raft-wal) %.2f MB", float64(segs)/1e6))
	sh, err := diskBytes(c.shared)
	if err != nil {
		return 0, err
	}
	total += sh
	parts = append(parts, fmt.Sprintf("-shared %.2f MB", float64(sh)/1e6))
	ratio := float64(total) / float64(logical)
	e.rep.Detail("fig12 %s after %s: %.2f MB on disk (%s) ÷ database %.2f MB = %.3f",
		c.name, when, float64(total)/1e6, strings.Join(parts, ", "), float64(logical)/1e6, ratio)
	e.p.Printf("fig12 %s after %s: %.3f", c.name, when, ratio)
	for _, d := range append([]string{c.shared}, procData(c)...) {
		if l, err := largestFiles(d, 256<<10); err == nil {
			e.rep.Detail("fig12 %s after %s: %s: %s", c.name, when, filepath.Base(d), l)
		}
	}
	return ratio, nil
}

// procData returns the -data directories of c's processes.
func procData(c *serveCluster) []string {
	var out []string
	for _, p := range c.procs {
		out = append(out, p.data)
	}
	return out
}

// diskBytes sums the blocks allocated to the files under dir (du).
func diskBytes(dir string) (int64, error) {
	var total int64
	err := walkFiles(dir, func(_ string, _ fs.FileInfo, alloc int64) { total += alloc })
	return total, err
}

// perProc returns each live process's CPU time (utime+stime), by id, and
// when it was read.
func (sc *serveCluster) perProc() (map[string]time.Duration, time.Time) {
	out := map[string]time.Duration{}
	for _, p := range sc.procs {
		if !p.alive() {
			continue
		}
		if pc, err := readProc(p.cmd.Process.Pid); err == nil {
			out[p.id] = pc.cpu
		}
	}
	return out, time.Now()
}

// writerProc returns the process whose /metrics says it is the writer.
func (sc *serveCluster) writerProc(ctx context.Context) (*serveProc, error) {
	var w *serveProc
	_, err := pollEvery(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		for _, p := range sc.procs {
			if v, err := sc.metric(ctx, p, "holeycow_is_writer"); err == nil && v == 1 && p.alive() {
				w = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: %s: no writer: %w", sc.name, err)
	}
	return w, nil
}

// queryInt runs a query returning one integer on p at level strong.
func (sc *serveCluster) queryInt(ctx context.Context, p *serveProc, sql string) (int64, error) {
	body, err := json.Marshal([]string{sql})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url()+"/db/query?level=strong", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := sc.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var out struct {
		Results []struct {
			Error  string    `json:"error"`
			Values [][]int64 `json:"values"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: %s: %q: %s: %v: %s", p.id, sql, resp.Status, err, firstBytes(b, 300))
	}
	if len(out.Results) != 1 || out.Results[0].Error != "" || len(out.Results[0].Values) != 1 || len(out.Results[0].Values[0]) != 1 {
		return 0, fmt.Errorf("bench: %s: %q: unexpected answer %s", p.id, sql, firstBytes(b, 300))
	}
	return out.Results[0].Values[0][0], nil
}

// modeSteady measures writer_ratio_steady_c3_<mode>: see figModes.
func (e *env) modeSteady() error {
	mark := e.mark()
	defer e.closeTo(mark)
	ctx, cancel := e.withTimeout(20 * time.Minute)
	defer cancel()
	type setup struct {
		name string
		mode cluster.CopierMode // 0: the baseline
		c    *serveCluster
	}
	setups := []*setup{{name: "no-refresh"}}
	for _, m := range refreshModes {
		setups = append(setups, &setup{name: m.String(), mode: m})
	}
	for _, s := range setups {
		args := []string{"-copier-mode", s.name}
		if s.mode == 0 {
			args = []string{"-copier-mode", "refresh", "-refresh-lag", "1h"}
		}
		var err error
		if s.c, err = e.startServe("fig12-steady-"+s.name, args...); err != nil {
			return err
		}
		if err := s.c.exec(ctx, nil, []any{serveSchema}); err != nil {
			return err
		}
	}
	bodies, err := newServeBodies(e.rng(1201))
	if err != nil {
		return err
	}
	seq := bodies.loads()[0]
	ratios := map[cluster.CopierMode][]float64{}
	refreshes := 0.0
	for r := range e.sc.ModeRounds {
		rate := map[cluster.CopierMode]float64{}
		line := fmt.Sprintf("fig12: steady round %d/%d (seq inserts/s):", r+1, e.sc.ModeRounds)
		for k := range setups {
			s := setups[(k+r)%len(setups)]
			var before float64
			if s.mode == cluster.CopierRefresh {
				before = s.c.sumMetric(ctx, "holeycow_copier_refreshes_total")
			}
			res, err := s.c.measure(ctx, seq, nil, e.sc.ServeLoad)
			if err != nil {
				return err
			}
			if s.mode == cluster.CopierRefresh {
				refreshes += s.c.sumMetric(ctx, "holeycow_copier_refreshes_total") - before
			}
			rate[s.mode] = res.st.perSec()
			line += fmt.Sprintf(" %s %.0f", s.name, rate[s.mode])
		}
		for _, m := range refreshModes {
			ratios[m] = append(ratios[m], rate[m]/rate[0])
		}
		e.p.Printf("%s", line)
	}
	for _, m := range refreshModes {
		e.rep.Set("writer_ratio_steady_c3_"+m.String(), median(ratios[m]))
		e.rep.Detail("fig12 steady %s ÷ copiers that never refresh: per-round ratios %s (%d rounds of %v of sequential inserts)", m, fmtFloats(ratios[m]), e.sc.ModeRounds, e.sc.ServeLoad)
	}
	e.rep.Detail("fig12 steady refresh: %.0f copier refreshes in %v of load (default bound %v)", refreshes, time.Duration(e.sc.ModeRounds)*e.sc.ServeLoad, cluster.DefaultRefreshLag)
	return e.modeSteadyProfiles(ctx, setups[0].c, setups[len(setups)-1].c, seq)
}

// modeSteadyProfiles, with -serve-profiles, runs the sequential load once
// more on the baseline cluster and on the last mode's (refresh), fetching
// a CPU profile of every process, into that directory as
// steady-SETUP-NODE-ROLE.pprof.
func (e *env) modeSteadyProfiles(ctx context.Context, base, refresh *serveCluster, seq serveLoad) error {
	if e.sc.ServeProfiles == "" {
		return nil
	}
	if err := os.MkdirAll(e.sc.ServeProfiles, 0o755); err != nil {
		return err
	}
	d := max(time.Second, e.sc.ServeLoad.Round(time.Second))
	for name, c := range map[string]*serveCluster{"no-refresh": base, "refresh": refresh} {
		leader, err := c.waitLeader(ctx, 10*time.Second)
		if err != nil {
			return err
		}
		st, err := e.profiledRun(ctx, c, leader, leader, seq, d, "steady-"+name)
		if err != nil {
			return err
		}
		e.p.Printf("fig12: profiled the steady %s load (%.0f inserts/s) into %s", name, st.perSec(), e.sc.ServeProfiles)
	}
	return nil
}

// errHeld stops a probe of the log at its first entry.
var errHeld = errors.New("bench: entry held")

// sumMetric sums an unlabelled metric over the live processes (those
// that do not answer count 0).
func (sc *serveCluster) sumMetric(ctx context.Context, name string) float64 {
	var s float64
	for _, p := range sc.procs {
		if v, err := sc.metric(ctx, p, name); err == nil {
			s += v
		}
	}
	return s
}

// modeRestart measures restart_bytes_10k_<mode>: see figModes.
func (e *env) modeRestart(m cluster.CopierMode) error {
	mark := e.mark()
	defer e.closeTo(mark)
	bc, err := e.startCluster("fig12-restart-"+m.String(), 3, func(o *localcluster.Options) {
		o.CopierMode, o.Storage = m, localcluster.StorageInProcess // a Cluster restarts members of in-process storage only
	})
	if err != nil {
		return err
	}
	ctx, cancel := e.withTimeout(10 * time.Minute)
	defer cancel()
	c, err := bc.schemaOnCopier(ctx, "CREATE TABLE r(id INTEGER PRIMARY KEY, v TEXT)")
	if err != nil {
		return err
	}
	id := c.ID()
	l, err := bc.Leader(ctx)
	if err != nil {
		return err
	}
	killed := l.Raft().CommitIndex()
	if err := bc.Kill(id); err != nil {
		return err
	}
	n := e.sc.RestartWrites
	var unknown atomic.Int64
	pad := strings.Repeat("r", 100)
	err = clients(ctx, 8, n, func(i int) error {
		_, err := bc.execReq(ctx, sqlnode.Request{Statements: []sqlnode.Statement{
			{SQL: "INSERT OR REPLACE INTO r(id, v) VALUES (?, ?)", Params: []sqlnode.Param{{Value: int64(i)}, {Value: pad}}}}})
		if errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			unknown.Add(1)
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	// What a user gets after a pause of a few seconds: the cluster marks
	// the database durable and the leader's periodic snapshot compacts
	// its log up to there: wait (up to 30 s) until the leader's log no
	// longer holds the first entry the member missed.
	// Fewer writes than the entries a compaction keeps are never
	// compacted away (tiny scale): no wait then.
	// The leader snapshots whenever the durable index moves, during the
	// writes too: the first missed entry may be compacted away long
	// before the end of the writes, and a member restarted then gets a
	// snapshot of the middle of the writes and every entry after it.
	// What the pause gives is a snapshot at the end of the writes: wait
	// until the leader's log no longer holds the entry TrailingLogs
	// before the writes' last (its snapshot is at or past that last).
	wait := 30 * time.Second
	if n <= 2*raftcluster.DefaultTrailingLogs {
		wait = 0
	}
	var compactTo uint64
	if l, err := bc.Leader(ctx); err == nil {
		compactTo = l.Raft().CommitIndex()
	}
	compactTo = max(killed+1, compactTo-min(compactTo, raftcluster.DefaultTrailingLogs))
	waited, derr := poll(ctx, wait, func() (bool, error) {
		l, err := bc.Leader(ctx)
		if err != nil {
			return false, nil
		}
		err = l.Raft().ReadLog(compactTo, func(uint64, []byte) error { return errHeld })
		return errors.Is(err, raftcluster.ErrCompacted), nil
	})
	before := bc.TransportBytes()
	t0 := time.Now()
	// Most of moved is the cluster's own traffic (heartbeats, overlay
	// reports, durable markers between every pair of members) for as long
	// as the restart takes, and that time is mostly the leader's Raft
	// backoff towards a peer that was dead (up to ~10 s, growing with how
	// long it was down): the detail line splits off the restarted
	// member's own bytes (through its proxy, new at Restart).
	_, err = bc.Restart(ctx, id)
	moved, own, took := bc.TransportBytes()-before, bc.MemberBytes(id), time.Since(t0)
	if err != nil {
		return fmt.Errorf("bench: restart %s after %d writes: %w", id, n, err)
	}
	key := "restart_bytes_10k_" + m.String()
	e.rep.Set(key, float64(moved))
	if n != 10000 {
		e.rep.Note(key, fmt.Sprintf("after %d writes (%s scale)", n, e.sc.Name))
	}
	durable := fmt.Sprintf("the leader's log compacted up to the writes' end %v after them", waited.Round(time.Millisecond))
	if derr != nil {
		durable = fmt.Sprintf("the leader's log not compacted up to the writes' end within %v", wait)
	}
	e.rep.Detail("fig12 restart %s: copier %s killed, %d inserts of 100 B (%d unknown outcome), %s; restart moved %d B between members in %v: %d B to and from the restarted member, %d B between the others",
		m, id, n, unknown.Load(), durable, moved, took.Round(time.Millisecond), own, moved-own)
	e.p.Printf("fig12 restart %s: %d B", m, moved)
	return nil
}
