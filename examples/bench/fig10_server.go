//go:build !nocluster

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The server-mode figures (figure 10): three "sqlcluster serve" processes
// on loopback, driven through the HTTP API by one keep-alive client. The
// loads:
//
//   - seq: one client, single-statement INSERTs of 100 B, one after the
//     other, to the leader;
//   - batch: one client, requests of 100 such INSERTs in a transaction;
//   - c16: 16 concurrent requests of single-statement INSERTs on the same
//     client (its connections kept alive);
//   - read: one client, point SELECTs by rowid at level=none on a
//     follower.
const (
	serveSchema  = "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"
	serveInsert  = "INSERT INTO t(v) VALUES(?)"
	serveSelect  = "SELECT v FROM t WHERE id = ?"
	serveBatch   = 100
	serveClients = 16
)

// serveLoad is one load: run drives target until d has passed.
type serveLoad struct {
	name string
	run  func(ctx context.Context, sc *serveCluster, target *serveProc, d time.Duration) *loadStats
}

// serveBodies are the pre-encoded request bodies of the loads, so that
// the client's encoding stays out of the measurement.
type serveBodies struct {
	single [][]byte // [[INSERT, v]]
	batch  [][]byte // 100 of them
}

func newServeBodies(r *rand.Rand) (*serveBodies, error) {
	b := &serveBodies{}
	val := func() string { // 100 B of text
		raw := make([]byte, 50)
		for i := range raw {
			raw[i] = byte(r.UintN(256))
		}
		return hex.EncodeToString(raw)
	}
	for range 64 {
		one, err := json.Marshal([][]any{{serveInsert, val()}})
		if err != nil {
			return nil, err
		}
		b.single = append(b.single, one)
	}
	for range 4 {
		stmts := make([][]any, serveBatch)
		for i := range stmts {
			stmts[i] = []any{serveInsert, val()}
		}
		many, err := json.Marshal(stmts)
		if err != nil {
			return nil, err
		}
		b.batch = append(b.batch, many)
	}
	return b, nil
}

// timed runs clients goroutines, each calling op until d has passed or
// ctx ends; op returns the operations it did.
func timed(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, client, i int) (int, error)) *loadStats {
	st := &loadStats{}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second) // a request in flight at the deadline may finish
	defer cancel()
	deadline := time.Now().Add(d)
	t0 := time.Now()
	var ops, reqs atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				n, err := op(ctx, c, i)
				if err != nil {
					st.fail(err)
					continue
				}
				ops.Add(int64(n))
				reqs.Add(1)
			}
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(t0)
	st.ops, st.requests = ops.Load(), reqs.Load()
	return st
}

func (b *serveBodies) loads() []serveLoad {
	insert := func(clients int) func(ctx context.Context, sc *serveCluster, target *serveProc, d time.Duration) *loadStats {
		return func(ctx context.Context, sc *serveCluster, target *serveProc, d time.Duration) *loadStats {
			url := target.url() + "/db/execute"
			return timed(ctx, clients, d, func(ctx context.Context, c, i int) (int, error) {
				return 1, sc.post(ctx, url, b.single[(c*7+i)%len(b.single)])
			})
		}
	}
	return []serveLoad{
		{"seq", insert(1)},
		{"batch", func(ctx context.Context, sc *serveCluster, target *serveProc, d time.Duration) *loadStats {
			url := target.url() + "/db/execute?transaction"
			return timed(ctx, 1, d, func(ctx context.Context, _, i int) (int, error) {
				return serveBatch, sc.post(ctx, url, b.batch[i%len(b.batch)])
			})
		}},
		{"c16", insert(serveClients)},
	}
}

// readLoad reads rows 1..rows by id at level=none on target.
func readLoad(r *rand.Rand, rows int64) (serveLoad, error) {
	var bodies [][]byte
	for range 256 {
		b, err := json.Marshal([][]any{{serveSelect, 1 + r.Int64N(max(rows, 1))}})
		if err != nil {
			return serveLoad{}, err
		}
		bodies = append(bodies, b)
	}
	return serveLoad{"read", func(ctx context.Context, sc *serveCluster, target *serveProc, d time.Duration) *loadStats {
		url := target.url() + "/db/query?level=none"
		return timed(ctx, 1, d, func(ctx context.Context, _, i int) (int, error) {
			return 1, sc.post(ctx, url, bodies[i%len(bodies)])
		})
	}}, nil
}

// loadResult is one measured load: what it did and what the three
// processes spent on it.
type loadResult struct {
	st     *loadStats
	used   procCounters
	rounds float64 // stability rounds on the writer (NaN: the writer changed)
}

// measure runs l against target (the leader if nil) and counts.
func (sc *serveCluster) measure(ctx context.Context, l serveLoad, target *serveProc, d time.Duration) (loadResult, error) {
	leader, err := sc.waitLeader(ctx, 10*time.Second)
	if err != nil {
		return loadResult{}, err
	}
	if target == nil {
		target = leader
	}
	r0, rerr0 := sc.metric(ctx, leader, "holeycow_stability_rounds_total")
	c0, err := sc.counters()
	if err != nil {
		return loadResult{}, err
	}
	st := l.run(ctx, sc, target, d)
	c1, err := sc.counters()
	if err != nil {
		return loadResult{}, err
	}
	r1, rerr1 := sc.metric(ctx, leader, "holeycow_stability_rounds_total")
	res := loadResult{st: st, used: c1.sub(c0), rounds: r1 - r0}
	if rerr0 != nil || rerr1 != nil || r1 < r0 {
		res.rounds = math.NaN()
	}
	if st.ops == 0 {
		return res, fmt.Errorf("bench: %s load on %s: nothing acknowledged in %v (%d failed: %v)", l.name, sc.name, d, st.failed, st.firstErr)
	}
	return res, nil
}

// figServe measures figure 10 (see the constants above and the keys of
// metrics).
func figServe(e *env) error {
	if raceEnabled {
		for _, k := range keysOf(10) {
			e.rep.NotMeasured(k, "not measured under -race")
		}
		return nil
	}
	mark := e.mark()
	defer e.closeTo(mark)
	sc := e.sc
	ctx, cancel := e.withTimeout(30 * time.Minute)
	defer cancel()
	e.p.Printf("fig10: building examples/sqlcluster")
	if _, err := e.serveBinary(); err != nil {
		return err
	}
	e.p.Printf("fig10: starting two clusters of 3 serve processes (SQL; no-op apply)")
	sqlc, err := e.startServe("fig10-sql")
	if err != nil {
		return err
	}
	noop, err := e.startServe("fig10-noop", "-bench-noop-apply")
	if err != nil {
		return err
	}
	for _, c := range []*serveCluster{sqlc, noop} {
		if err := c.exec(ctx, nil, []any{serveSchema}); err != nil {
			return fmt.Errorf("bench: schema on %s: %w", c.name, err)
		}
	}
	bodies, err := newServeBodies(e.rng(1000))
	if err != nil {
		return err
	}

	// Interleaved rounds: each load on the no-op cluster and on the SQL
	// cluster, the order alternating.
	type acc struct {
		ratios       []float64
		sql, base    []loadResult
		sqlOps, reqs int64
		used         procCounters
		// Stability rounds and write requests of the rounds in which
		// the writer stayed the same.
		rounds, roundReqs float64
	}
	accs := map[string]*acc{}
	var rows int64 // rows inserted into the SQL cluster
	for r := range sc.ServeRounds {
		for _, l := range bodies.loads() {
			a := accs[l.name]
			if a == nil {
				a = &acc{}
				accs[l.name] = a
			}
			order := []*serveCluster{noop, sqlc}
			if r%2 == 1 {
				order = []*serveCluster{sqlc, noop}
			}
			var got [2]loadResult
			for _, c := range order {
				res, err := c.measure(ctx, l, nil, sc.ServeLoad)
				if err != nil {
					return err
				}
				e.p.Printf("fig10: round %d/%d %s on %s: %.0f/s (%d failed), cpu %.2f ms/op, %.0f B/op",
					r+1, sc.ServeRounds, l.name, c.name, res.st.perSec(), res.st.failed,
					float64(res.used.cpu.Microseconds())/1000/float64(res.st.ops), float64(res.used.bytes())/float64(res.st.ops))
				if c == sqlc {
					got[1] = res
				} else {
					got[0] = res
				}
			}
			a.ratios = append(a.ratios, got[1].st.perSec()/got[0].st.perSec())
			a.base = append(a.base, got[0])
			a.sql = append(a.sql, got[1])
			a.sqlOps += got[1].st.ops
			a.reqs += got[1].st.requests
			a.used.add(got[1].used)
			if !math.IsNaN(got[1].rounds) { // else the writer changed
				a.rounds += got[1].rounds
				a.roundReqs += float64(got[1].st.requests)
			}
			rows += got[1].st.ops
		}
	}
	for _, name := range []string{"seq", "batch", "c16"} {
		a := accs[name]
		e.rep.Set("raft_ceiling_ratio_"+name, median(a.ratios))
		if a.roundReqs > 0 {
			e.rep.Set("stability_rounds_per_1k_"+name, 1000*a.rounds/a.roundReqs)
		} else {
			e.rep.NotMeasured("stability_rounds_per_1k_"+name, "the writer changed during every round of the load")
		}
		var sqlRate, baseRate, baseCPU []float64
		for i := range a.sql {
			sqlRate = append(sqlRate, a.sql[i].st.perSec())
			baseRate = append(baseRate, a.base[i].st.perSec())
			baseCPU = append(baseCPU, float64(a.base[i].used.cpu.Microseconds())/1000/float64(a.base[i].st.ops))
		}
		e.rep.Detail("fig10 %s: SQL %s ops/s, no-op %s ops/s (medians of %d rounds of %v); SQL cpu %.3f ms/op, no-op cpu %s ms/op; SQL %.0f B written/op",
			name, fmtFloat0(median(sqlRate)), fmtFloat0(median(baseRate)), len(a.ratios), sc.ServeLoad,
			float64(a.used.cpu.Microseconds())/1000/float64(a.sqlOps), fmtFloats(baseCPU), float64(a.used.bytes())/float64(a.sqlOps))
	}
	seq, batch, c16 := accs["seq"], accs["batch"], accs["c16"]
	e.rep.Set("bytes_per_write_seq_3n", float64(seq.used.bytes())/float64(seq.sqlOps))
	e.rep.Set("bytes_per_row_batch_3n", float64(batch.used.bytes())/float64(batch.sqlOps))
	for _, k := range []struct {
		key string
		a   *acc
	}{{"bytes_per_write_seq_3n", seq}, {"bytes_per_row_batch_3n", batch}} {
		e.rep.Note(k.key, bytesNote(k.a.used, k.a.sqlOps))
	}
	e.rep.Set("cpu_ms_per_write_seq", float64(seq.used.cpu.Microseconds())/1000/float64(seq.sqlOps))
	e.rep.Set("cpu_ms_per_write_c16", float64(c16.used.cpu.Microseconds())/1000/float64(c16.sqlOps))

	// Reads at level=none on a follower.
	leader, err := sqlc.waitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	fol := sqlc.follower(leader)
	rl, err := readLoad(e.rng(1001), rows)
	if err != nil {
		return err
	}
	res, err := sqlc.measure(ctx, rl, fol, sc.ServeLoad)
	if err != nil {
		return err
	}
	e.rep.Set("cpu_us_per_read_none", float64(res.used.cpu.Microseconds())/float64(res.st.ops))
	e.rep.Detail("fig10 read: %s point selects/s at level=none on follower %s (one client, %v)", fmtFloat0(res.st.perSec()), fol.id, sc.ServeLoad)

	if err := serveProfiles(e, ctx, sqlc, bodies, rl); err != nil {
		return err
	}
	if err := serveAmplification(e, ctx, sqlc, bodies); err != nil {
		return err
	}
	if err := serveStable(e, ctx, sqlc, bodies); err != nil {
		return err
	}
	return serveFailover(e, ctx, sqlc, bodies)
}

// serveAmplification measures write_amplification_3n: kernel write_bytes
// of the three processes for sc.ServeAmpInserts single-row inserts of
// 100 B into a fresh table, from 16 concurrent requests, ÷ the bytes
// inserted.
func serveAmplification(e *env, ctx context.Context, c *serveCluster, b *serveBodies) error {
	n := e.sc.ServeAmpInserts
	if err := c.exec(ctx, nil, []any{"CREATE TABLE IF NOT EXISTS amp(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"}); err != nil {
		return err
	}
	l, err := c.waitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	var bodies [][]byte
	for _, s := range b.single {
		bodies = append(bodies, []byte(strings.Replace(string(s), "INSERT INTO t(", "INSERT INTO amp(", 1)))
	}
	c0, err := c.counters()
	if err != nil {
		return err
	}
	url := l.url() + "/db/execute"
	t0 := time.Now()
	var failed atomic.Int64
	err = clients(ctx, serveClients, n, func(i int) error {
		// A failed request (an election on a loaded machine) may have
		// committed or not: count it and send the insert again through
		// the leader (a duplicate adds a row of 100 B at most).
		if err := c.post(ctx, url, bodies[i%len(bodies)]); err != nil {
			failed.Add(1)
			return c.retry(ctx, nil, "/db/execute", bodies[i%len(bodies)])
		}
		return nil
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	c1, err := c.counters()
	if err != nil {
		return err
	}
	used := c1.sub(c0)
	e.rep.Set("write_amplification_3n", float64(used.bytes())/float64(int64(n)*100))
	note := fmt.Sprintf("kernel write_bytes: %.0f×", float64(used.writeBytes)/float64(int64(n)*100))
	if used.dev {
		note = "block device; " + note
	}
	if n != 66000 {
		note = fmt.Sprintf("%d inserts (scaled down from 66k); %s", n, note)
	}
	e.rep.Note("write_amplification_3n", note)
	e.rep.Detail("fig10 amplification: %d inserts of 100 B from %d concurrent requests in %.1fs (%d failed): the 3 processes' block device received %d B (dev counted: %v); kernel write_bytes %d B",
		n, serveClients, elapsed.Seconds(), failed.Load(), used.devBytes, used.dev, used.writeBytes)
	return nil
}

// serveStable measures failed_requests_c16_60s: requests failed (status
// other than 200, an error result or a transport error) in
// sc.ServeStable of the c16 load.
func serveStable(e *env, ctx context.Context, c *serveCluster, b *serveBodies) error {
	l := b.loads()[2]
	res, err := c.measure(ctx, l, nil, e.sc.ServeStable)
	if err != nil {
		return err
	}
	e.rep.Set("failed_requests_c16_60s", float64(res.st.failed))
	if e.sc.ServeStable != time.Minute {
		e.rep.Note("failed_requests_c16_60s", fmt.Sprintf("over %v (scaled down from 60 s)", e.sc.ServeStable))
	}
	detail := ""
	if res.st.firstErr != nil {
		detail = "; first: " + firstLine(res.st.firstErr)
	}
	e.rep.Detail("fig10 stable: %d writes acknowledged, %d failed in %v of the c16 load%s", res.st.ops, res.st.failed, e.sc.ServeStable, detail)
	return nil
}

// serveFailover measures serve_failover_ms_p50/p99: the leader is killed
// (SIGKILL); the time until a write is accepted through a surviving node.
// The killed node then restarts from its -data, and the next round waits
// until every node is ready.
func serveFailover(e *env, ctx context.Context, c *serveCluster, b *serveBodies) error {
	var ms []float64
	for k := range e.sc.ServeKills {
		l, err := c.waitLeader(ctx, 30*time.Second)
		if err != nil {
			return err
		}
		if err := c.retry(ctx, l, "/db/execute", b.single[0]); err != nil {
			return fmt.Errorf("bench: write before kill %d: %w", k+1, err)
		}
		via := c.follower(l)
		t0 := time.Now()
		if err := c.kill(l); err != nil {
			return err
		}
		attempts := 0
		for {
			attempts++
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.post(actx, via.url()+"/db/execute", b.single[attempts%len(b.single)])
			acancel()
			if err == nil {
				break
			}
			if time.Since(t0) > 60*time.Second || ctx.Err() != nil {
				return fmt.Errorf("bench: no write accepted %v after killing %s: %w", time.Since(t0), l.id, err)
			}
			time.Sleep(2 * time.Millisecond) // a retry interval, not a wait for a condition
		}
		d := time.Since(t0)
		ms = append(ms, float64(d.Microseconds())/1000)
		e.p.Printf("fig10: kill %d/%d (%s): a write accepted through %s after %.0f ms (%d attempts)", k+1, e.sc.ServeKills, l.id, via.id, ms[len(ms)-1], attempts)
		if err := c.start(l); err != nil {
			return err
		}
		for _, p := range c.procs {
			if err := c.waitReady(p, 60*time.Second); err != nil {
				return err
			}
		}
	}
	e.rep.Set("serve_failover_ms_p50", percentile(ms, 50))
	e.rep.Set("serve_failover_ms_p99", percentile(ms, 99))
	e.rep.Detail("fig10 failover: %d kills (SIGKILL of the leader; writes through a survivor); ms %s", len(ms), fmtFloats(ms))
	return nil
}

// serveProfiles, with -serve-profiles, runs each load again while
// fetching a CPU profile of every node, into that directory as
// LOAD-NODE-ROLE.pprof.
func serveProfiles(e *env, ctx context.Context, c *serveCluster, b *serveBodies, read serveLoad) error {
	if e.sc.ServeProfiles == "" {
		return nil
	}
	if err := os.MkdirAll(e.sc.ServeProfiles, 0o755); err != nil {
		return err
	}
	d := max(time.Second, e.sc.ServeLoad.Round(time.Second))
	for _, l := range append(b.loads(), read) {
		leader, err := c.waitLeader(ctx, 10*time.Second)
		if err != nil {
			return err
		}
		target := leader
		if l.name == "read" {
			target = c.follower(leader)
		}
		st, err := e.profiledRun(ctx, c, leader, target, l, d, l.name)
		if err != nil {
			return err
		}
		e.p.Printf("fig10: profiled %s (%.0f ops/s) into %s", l.name, st.perSec(), e.sc.ServeProfiles)
	}
	return nil
}

// profiledRun runs l against target for d while fetching a CPU profile
// of every process of c, into e.sc.ServeProfiles as
// PREFIX-NODE-ROLE.pprof.
func (e *env) profiledRun(ctx context.Context, c *serveCluster, leader, target *serveProc, l serveLoad, d time.Duration, prefix string) (*loadStats, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(c.procs))
	for i, p := range c.procs {
		role := "follower"
		if p == leader {
			role = "leader"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.profile(p, d, filepath.Join(e.sc.ServeProfiles, fmt.Sprintf("%s-%s-%s.pprof", prefix, p.id, role)))
		}()
	}
	st := l.run(ctx, c, target, d+200*time.Millisecond)
	wg.Wait()
	return st, errors.Join(errs...)
}

// bytesNote says which counter a bytes figure comes from, and the other
// one's value per operation.
func bytesNote(used procCounters, ops int64) string {
	wb := fmt.Sprintf("kernel write_bytes %.0f B", float64(used.writeBytes)/float64(ops))
	if used.dev {
		return "block device (ext4 on a loop device of its own, syncfs before each reading); " + wb
	}
	return wb + " (an upper bound with large folios; run as root for the block-device count)"
}

func fmtFloat0(x float64) string { return fmt.Sprintf("%.0f", x) }
