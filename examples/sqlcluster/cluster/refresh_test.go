package cluster_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// sqliteModes are the journal and sync modes the refresh tests run in.
var sqliteModes = []struct{ name, journal, sync string }{
	{"TRUNCATE", "TRUNCATE", "FULL"},
	{"WAL", "WAL", "NORMAL"},
}

func refreshOpts(journal, sync string) localcluster.Options {
	return localcluster.Options{Nodes: 3, JournalMode: journal, Synchronous: sync, CopierMode: cluster.CopierRefresh, RefreshLag: 20 * time.Millisecond}
}

// copiersOf returns the members other than the writer.
func copiersOf(t *testing.T, ctx context.Context, c *localcluster.Cluster) (w *cluster.Node, copiers []*cluster.Node) {
	t.Helper()
	w, err := c.Writer(ctx)
	require.NoError(t, err)
	for _, n := range c.Nodes() {
		if n != w {
			copiers = append(copiers, n)
		}
	}
	return w, copiers
}

// histSchema: each write k inserts row k into h, sets every row of c to
// k, and rewrites a padded row of p (pages all over the file), so that a
// state that mixes two writes shows.
var histSchema = []sqlnode.Statement{
	stmt("CREATE TABLE IF NOT EXISTS h(seq INTEGER PRIMARY KEY)"),
	stmt("CREATE TABLE IF NOT EXISTS c(id INTEGER PRIMARY KEY, v INTEGER, pad BLOB)"),
	stmt("CREATE TABLE IF NOT EXISTS p(id INTEGER PRIMARY KEY, v INTEGER, pad BLOB)"),
	stmt("INSERT OR REPLACE INTO c(id, v, pad) SELECT value, 0, zeroblob(3000) FROM generate_series(1, 4)"),
	stmt("INSERT OR REPLACE INTO p(id, v, pad) SELECT value, 0, zeroblob(1500) FROM generate_series(1, 64)"),
}

func histWrite(k int64) sqlnode.Request {
	return req(
		stmt("INSERT OR REPLACE INTO h(seq) VALUES(?)", k),
		stmt("UPDATE c SET v = ?", k),
		stmt("UPDATE p SET v = ? WHERE id = ?", k, k%64+1),
	)
}

// histRead is one read's observation: the applied index stored in the
// database and what the tables hold, read in one transaction.
type histRead struct {
	node            string
	idx             uint64
	count, max, sum int64
	cmin, cmax      int64
	pv              int64 // p.v of row k%64+1, k = max
}

const histQuery = "SELECT (SELECT idx FROM _holeycow_applied), (SELECT count(*) FROM h), (SELECT coalesce(max(seq), 0) FROM h), " +
	"(SELECT coalesce(sum(seq), 0) FROM h), (SELECT min(v) FROM c), (SELECT max(v) FROM c), " +
	"(SELECT v FROM p WHERE id = (SELECT coalesce(max(seq), 0) FROM h) % 64 + 1)"

func scanHist(node string, scan func(...any) error) (histRead, error) {
	r := histRead{node: node}
	var idx int64
	err := scan(&idx, &r.count, &r.max, &r.sum, &r.cmin, &r.cmax, &r.pv)
	r.idx = uint64(idx)
	return r, err
}

// checkHist compares each read with the log prefix up to its index.
// The writes are sequential; acked[k-1] is write k's log index, 0 if an
// attempt of it had an unknown outcome (it was sent again, and may have
// committed twice, at indexes unknown). The stored index is the last SQL
// entry applied, so a read whose tables hold exactly writes 1..k must be
// at write k's index, and between its neighbours' where that is unknown.
func checkHist(t *testing.T, acked []uint64, reads []histRead) {
	t.Helper()
	errs := histErrors(acked, reads)
	for i, e := range errs {
		if i == 5 {
			break
		}
		t.Error(e)
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d reads are not the state at their index", len(errs), len(reads))
	}
}

func histErrors(acked []uint64, reads []histRead) (errs []string) {
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, r := range reads {
		k := r.max
		want := histRead{node: r.node, idx: r.idx, count: k, max: k, sum: k * (k + 1) / 2, cmin: k, cmax: k, pv: k}
		if r != want || k > int64(len(acked)) {
			fail("read on %s at index %d: got %+v, want the state after write %d: %+v", r.node, r.idx, r, k, want)
			continue
		}
		switch {
		case k > 0 && acked[k-1] != 0:
			if acked[k-1] != r.idx {
				fail("read on %s at index %d holds writes 1..%d, but write %d is at index %d", r.node, r.idx, k, k, acked[k-1])
			}
		default:
			if k > 1 && acked[k-2] != 0 && acked[k-2] >= r.idx {
				fail("read on %s at index %d holds writes 1..%d, but write %d is at index %d", r.node, r.idx, k, k-1, acked[k-2])
			}
		}
		if k < int64(len(acked)) && acked[k] != 0 && acked[k] <= r.idx {
			fail("read on %s at index %d misses write %d at index %d", r.node, r.idx, k+1, acked[k])
		}
	}
	return errs
}

// The history check must be able to fail: a mix of two writes' states,
// a state at the wrong index, a stale one labelled with a newer index.
func TestHistErrors_detect(t *testing.T) {
	st := func(k int64, idx uint64) histRead {
		return histRead{node: "x", idx: idx, count: k, max: k, sum: k * (k + 1) / 2, cmin: k, cmax: k, pv: k}
	}
	acked := []uint64{10, 12, 0, 20}
	require.Empty(t, histErrors(acked, []histRead{st(0, 5), st(1, 10), st(2, 12), st(3, 15), st(4, 20)}))
	mixed := st(2, 12)
	mixed.cmin = 1 // one row of c still at write 1
	for _, r := range []histRead{mixed, st(2, 11), st(1, 12), st(3, 12), st(3, 20)} {
		require.NotEmpty(t, histErrors(acked, []histRead{r}), "%+v", r)
	}
}

// execHist runs write k, sending it again while its outcome is unknown
// (the write is idempotent); it returns its index, 0 if an attempt's
// outcome was unknown.
func execHist(t *testing.T, ctx context.Context, c *localcluster.Cluster, k int64) uint64 {
	t.Helper()
	unknown := false
	for range 5 {
		r, err := c.Execute(ctx, histWrite(k))
		switch {
		case errors.Is(err, raftcluster.ErrOutcomeUnknown):
			t.Logf("write %d: outcome unknown, sending again: %v", k, err)
			unknown = true
			continue
		case err != nil:
			t.Fatalf("write %d: %v", k, err)
		}
		if unknown {
			return 0
		}
		return r.Index
	}
	t.Fatalf("write %d: outcome unknown five times", k)
	return 0
}

// TestLocal_Refresh_readsSeeOneIndex: on refresh-mode copiers, every
// read (Query at each level, database/sql transactions held across
// refreshes, long statements) sees exactly the state after the writes up
// to one log index, never a mix, while one client writes and the copiers
// refresh (by lag and on demand).
func TestLocal_Refresh_readsSeeOneIndex(t *testing.T) {
	for _, m := range sqliteModes {
		t.Run(m.name, func(t *testing.T) {
			seed := *seedFlag
			if seed == 0 {
				seed = uint64(time.Now().UnixNano())
			}
			t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
			refreshHistoryRun(t, refreshOpts(m.journal, m.sync), seed)
		})
	}
}

func refreshHistoryRun(t *testing.T, opts localcluster.Options, seed uint64) {
	c := startTest(t, opts)
	ctx := testCtx(t, 120*time.Second)
	mustExec(t, ctx, c, histSchema...)
	_, copiers := copiersOf(t, ctx, c)
	base, baseResets := map[string]int64{}, map[string]int64{}
	for _, n := range copiers {
		base[n.ID()] = n.RefreshStats().Refreshes
		baseResets[n.ID()] = n.Stats().Resets
		// A linearizable read refreshes on demand: the schema is there
		// for the readers at level none.
		queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT count(*) FROM h")
	}

	const writes = 50
	var (
		mu    sync.Mutex
		acked []uint64
		reads []histRead
	)
	// The schema's index: the state before write 1 is valid too (k=0
	// reads of an empty h with c at 0).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	readErr := make(chan error, 16)
	report := func(err error) {
		select {
		case readErr <- err:
		default:
		}
	}
	add := func(r histRead) {
		mu.Lock()
		reads = append(reads, r)
		mu.Unlock()
	}
	for i, n := range copiers {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		// Queries at every level.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				level := cluster.Level(rng.IntN(3))
				qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				rs, err := n.Query(qctx, level, []sqlnode.Statement{stmt(histQuery)})
				cancel()
				if err != nil {
					// A refusal (no leader, a leadership transfer, a
					// refresh that timed out on a loaded machine) is no
					// wrong answer; failed reads are counted and logged.
					if failed.Add(1) <= 3 {
						t.Logf("query at %v on %s: %v", level, n.ID(), err)
					}
					continue
				}
				if rs[0].Error != "" {
					report(fmt.Errorf("query on %s: %s", n.ID(), rs[0].Error))
					return
				}
				v := rs[0].Values[0]
				r, err := scanHist(n.ID(), func(dst ...any) error {
					for j, d := range dst {
						x, _ := v[j].(int64)
						*(d.(*int64)) = x
					}
					return nil
				})
				if err == nil {
					add(r)
				}
			}
		}()
		// database/sql read transactions that span refreshes: two reads
		// in one transaction must see the same state.
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := n.ReadOnlyDB()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := longTx(ctx, db, n, add); err != nil {
					report(err)
					return
				}
			}
		}()
	}
	for k := int64(1); k <= writes; k++ {
		acked = append(acked, execHist(t, ctx, c, k))
	}
	// Every copier refreshes at least once while the readers run (on a
	// loaded machine a refresh's handshake can time out; the next one,
	// due by lag, is awaited), then reaches past the last write; then
	// the readers stop.
	for _, n := range copiers {
		require.NoError(t, c.WaitFor(ctx, n.ID()+" refreshed", func() bool {
			// A failed refresh asks for a reset, which re-bases the view
			// as a refresh does (and leaves no lag to refresh for).
			return n.RefreshStats().Refreshes > base[n.ID()] || n.Stats().Resets > baseResets[n.ID()]
		}))
	}
	for _, n := range copiers {
		require.NoError(t, retryTransient(ctx, func(ctx context.Context) error {
			_, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{stmt("SELECT 1")})
			return err
		}))
	}
	// Enough reads to judge (a loaded machine runs the readers slowly):
	// at least 20 before they stop, as checked below.
	require.NoError(t, c.WaitFor(ctx, "20 reads", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reads) >= 20 || len(readErr) > 0 // a reader's error is reported below
	}))
	close(stop)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	checkHist(t, acked, reads)
	seen := map[uint64]bool{}
	for _, r := range reads {
		seen[r.idx] = true
	}
	for _, n := range copiers {
		st := n.RefreshStats()
		t.Logf("%s: %d refreshes (%d failed), last %v", n.ID(), st.Refreshes-base[n.ID()], st.Failed, st.Last)
		if st.Refreshes-base[n.ID()] < 1 && n.Stats().Resets == baseResets[n.ID()] {
			t.Errorf("%s refreshed %d times during %d writes", n.ID(), st.Refreshes-base[n.ID()], writes)
		}
	}
	t.Logf("%d reads at %d distinct indexes (%d reads failed: not ready, no leader)", len(reads), len(seen), failed.Load())
	if len(reads) < 20 || len(seen) < 3 {
		t.Errorf("%d reads, at only %d distinct indexes", len(reads), len(seen))
	}
	rep, err := c.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, rep.Diverged)
}

// transient reports a read error that says to come back later: the
// database is not ready (reopening, a refresh that did not finish in
// time), there is no leader to ask for an index or it lost leadership
// while confirming it, the context ended (SQLite reports "interrupted"
// for a statement that it ended: a read that waited past its deadline, a
// transaction that the refresh's drain gave up on after 5 s).
func transient(err error) bool {
	return err != nil && (errors.Is(err, cluster.ErrNotReady) || errors.Is(err, raftcluster.ErrNotLeader) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, raftcluster.ErrOutcomeUnknown) ||
		errors.Is(err, sqlite3.INTERRUPT))
}

// retryTransient runs f, each time with a 5 s deadline, until it returns
// an error that is not transient or ctx ends.
func retryTransient(ctx context.Context, f func(context.Context) error) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(fctx)
		cancel()
		if !transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

// longTx reads the history state twice in one database/sql read
// transaction, with a long statement between: both reads must be the
// same state.
func longTx(ctx context.Context, db *sql.DB, n *cluster.Node, add func(histRead)) error {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(tctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		if transient(err) {
			return nil
		}
		return fmt.Errorf("begin on %s: %w", n.ID(), err)
	}
	defer tx.Rollback()
	var rs []histRead
	for i := range 2 {
		r, err := scanHist(n.ID(), tx.QueryRowContext(tctx, histQuery).Scan)
		if err != nil {
			if transient(err) {
				return nil // the connection went stale (a refresh): a new one next time
			}
			return fmt.Errorf("read %d on %s: %w", i, n.ID(), err)
		}
		rs = append(rs, r)
		if i == 0 {
			var x int64
			if err := tx.QueryRowContext(tctx, "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 20000) SELECT count(*) FROM s, h WHERE h.seq = s.i").Scan(&x); err != nil {
				if transient(err) {
					return nil
				}
				return fmt.Errorf("long read on %s: %w", n.ID(), err)
			}
		}
	}
	if rs[0] != rs[1] {
		return fmt.Errorf("one transaction on %s saw two states: %+v then %+v", n.ID(), rs[0], rs[1])
	}
	add(rs[0])
	return nil
}

// TestLocal_Refresh_overlayPreImagesOnly: a refresh-mode copier applies
// nothing as entries commit, so its overlay holds only pre-images of the
// pages the writer changed since its last refresh: it stays a small
// fraction of the database while a replay-mode copier's grows with it.
func TestLocal_Refresh_overlayPreImagesOnly(t *testing.T) {
	for _, m := range sqliteModes {
		t.Run(m.name, func(t *testing.T) {
			opts := refreshOpts(m.journal, m.sync)
			opts.ResetThreshold, opts.ResetFraction = 1<<40, -1 // no garbage collection: only refreshes bound it
			c := startTest(t, opts)
			ctx := testCtx(t, 120*time.Second)
			mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS big(id INTEGER PRIMARY KEY, pad BLOB)"))
			_, copiers := copiersOf(t, ctx, c)
			var samples []int64
			for k := range 100 {
				mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO big(id, pad) SELECT ? + value, zeroblob(1000) FROM generate_series(1, 20)", k*20))
				if k%10 == 9 {
					for _, n := range copiers {
						samples = append(samples, n.Stats().OverlayBytes)
					}
				}
			}
			dbBytes := queryInt(t, ctx, copiers[0], cluster.LevelLinearizable, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
			slices.Sort(samples)
			med := samples[len(samples)/2]
			t.Logf("database %d bytes; copier overlays while writing: median %d bytes (%.3f), largest %d (%.3f)", dbBytes,
				med, float64(med)/float64(dbBytes), samples[len(samples)-1], float64(samples[len(samples)-1])/float64(dbBytes))
			// 100 writes of 20 KB: a copier that applied them would hold
			// the whole 2+ MB database in its overlay.
			require.Less(t, float64(med), 0.1*float64(dbBytes), "overlay holds more than pre-images")
			for _, n := range copiers {
				require.Positive(t, n.RefreshStats().Refreshes)
				// Refreshed at a linearizable read after the last write:
				// the overlay holds at most the few entries replayed.
				require.NoError(t, n.Refresh(ctx))
				ob := n.Stats().OverlayBytes
				t.Logf("%s: overlay %d bytes after a refresh", n.ID(), ob)
				require.Less(t, float64(ob), 0.02*float64(dbBytes))
			}
		})
	}
}

// TestLocal_Refresh_promotion: the writer is killed mid-workload on a
// cluster of refresh-mode copiers; a copier becomes the writer (fencing,
// a fresh writer view, the tail replayed) and no acknowledged write is
// lost; every member converges.
func TestLocal_Refresh_promotion(t *testing.T) {
	for _, m := range sqliteModes {
		t.Run(m.name, func(t *testing.T) { promotionRun(t, refreshOpts(m.journal, m.sync), false) })
	}
}

// TestLocal_Refresh_promotionOldSnapshot: the copiers have not refreshed
// since they joined, and the log was compacted past their snapshots when
// the writer dies. The new writer must start from shared storage as the
// old writer left it: promoting its copier view would push its old
// snapshot back onto shared storage, and the log no longer holds what
// would bring it forward.
func TestLocal_Refresh_promotionOldSnapshot(t *testing.T) {
	for _, m := range sqliteModes {
		t.Run(m.name, func(t *testing.T) {
			opts := refreshOpts(m.journal, m.sync)
			opts.RefreshLag, opts.TrailingLogs, opts.SnapshotThreshold = time.Hour, 4, 8
			promotionRun(t, opts, true)
		})
	}
}

func promotionRun(t *testing.T, opts localcluster.Options, compact bool) {
	{
		{
			c := startTest(t, opts)
			ctx := testCtx(t, 120*time.Second)
			mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS a(id INTEGER PRIMARY KEY)"))
			var (
				mu    sync.Mutex
				acked []int64
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int64(1); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						id := int64(w)<<32 | i
						octx, cancel := context.WithTimeout(ctx, 3*time.Second)
						_, err := c.Execute(octx, req(stmt("INSERT INTO a(id) VALUES(?)", id)))
						cancel()
						if err == nil {
							mu.Lock()
							acked = append(acked, id)
							mu.Unlock()
						}
					}
				}()
			}
			waitAcked := func(n int) {
				require.NoError(t, c.WaitFor(ctx, "writes", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(acked) >= n
				}))
			}
			waitAcked(100)
			if compact {
				require.NoError(t, c.Compact(ctx))
			}
			old, copiers := copiersOf(t, ctx, c)
			require.NoError(t, c.Kill(old.ID()))
			start := time.Now()
			nw, err := c.Writer(ctx)
			require.NoError(t, err)
			require.Contains(t, copiers, nw)
			mu.Lock()
			before := len(acked)
			mu.Unlock()
			waitAcked(before + 50)
			t.Logf("killed %s; %s writes again after %v", old.ID(), nw.ID(), time.Since(start))
			close(stop)
			wg.Wait()
			require.NoError(t, c.Remove(ctx, old.ID()))
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(acked)
			for _, n := range c.Nodes() {
				var got []int64
				require.NoError(t, retryTransient(ctx, func(ctx context.Context) error {
					rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{stmt("SELECT id FROM a ORDER BY id")})
					if err != nil {
						return err
					}
					got = got[:0]
					for _, v := range rs[0].Values {
						got = append(got, v[0].(int64))
					}
					return nil
				}))
				for _, id := range acked {
					if _, ok := slices.BinarySearch(got, id); !ok {
						t.Fatalf("%s lost acknowledged write %x (%d rows, %d acknowledged)", n.ID(), id, len(got), len(acked))
					}
				}
			}
			rep, err := c.Verify(ctx)
			require.NoError(t, err)
			require.Empty(t, rep.Diverged)
		}
	}
}
