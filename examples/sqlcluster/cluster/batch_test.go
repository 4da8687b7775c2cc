package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// rowKey names a row the batch tests insert: writer w's i-th insert.
type rowKey struct{ w, i int64 }

// readRows returns every row of t on n (linearizable), by (w, i).
func readRows(t *testing.T, ctx context.Context, n *cluster.Node) map[rowKey]int64 {
	t.Helper()
	// A linearizable read needs a leader: during an election (a loaded
	// machine) it is refused, and asked again until ctx ends.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT w, i, id FROM t"}})
	for (errors.Is(err, raftcluster.ErrNotLeader) || errors.Is(err, cluster.ErrNotReady)) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		rs, err = n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT w, i, id FROM t"}})
	}
	if err != nil || rs[0].Error != "" {
		t.Fatalf("read rows on %s: %+v %v", n.ID(), rs, err)
	}
	rows := map[rowKey]int64{}
	for _, v := range rs[0].Values {
		rows[rowKey{v[0].(int64), v[1].(int64)}] = v[2].(int64)
	}
	return rows
}

// checkRows verifies that every member holds every row in want, with the
// id its Execute reported (0: any id), and that the members agree.
func checkRows(t *testing.T, ctx context.Context, c *localcluster.Cluster, want map[rowKey]int64) {
	t.Helper()
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) > 0 || rep.Integrity != "ok" {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	for _, n := range c.Nodes() {
		rows := readRows(t, ctx, n)
		for k, id := range want {
			got, ok := rows[k]
			if !ok || id != 0 && got != id {
				t.Errorf("%s: row %+v: id %d (present %v), acknowledged with id %d", n.ID(), k, got, ok, id)
			}
		}
	}
}

// TestNode_ApplyBatch_concurrentExecute: concurrent Executes on the leader
// are applied in runs of several entries (group commit), every Execute
// gets its own entry's results (its insert id, what its own statements
// read and changed; a failing request rolls back alone, not its run), and
// every member ends with the same database.
func TestNode_ApplyBatch_concurrentExecute(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, w INTEGER NOT NULL, i INTEGER NOT NULL, UNIQUE(w, i))"))
	l, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, epoch := l.Stats(), l.Raft().State().Epoch

	const writers, each = 16, 10
	var mu sync.Mutex
	acked := map[rowKey]int64{} // row -> the id its Execute reported
	ids := map[int64]rowKey{}
	var unknown atomic.Int64
	var wg sync.WaitGroup
	for w := range int64(writers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range int64(each) {
				// Own insert, a read of it, and an update whose row count
				// is this writer's inserts so far.
				r, err := l.Execute(ctx, req(
					stmt("INSERT INTO t(w, i) VALUES(?, ?)", w, i),
					stmt("SELECT w, i, changes() FROM t WHERE id = last_insert_rowid()"),
					stmt("UPDATE t SET i = i WHERE w = ?", w)))
				if errors.Is(err, raftcluster.ErrOutcomeUnknown) || errors.Is(err, raftcluster.ErrNotLeader) {
					t.Logf("writer %d insert %d: %v", w, i, err) // a leadership change on a loaded machine
					unknown.Add(1)
					return
				}
				if err != nil {
					t.Errorf("writer %d insert %d: %v", w, i, err)
					return
				}
				if r.RolledBack || len(r.Results) != 3 {
					t.Errorf("writer %d insert %d: %+v", w, i, r)
					return
				}
				id := r.Results[0].LastInsertID
				if r.Results[0].RowsAffected != 1 || id <= 0 {
					t.Errorf("writer %d insert %d: insert result %+v", w, i, r.Results[0])
				}
				if got := fmt.Sprint(r.Results[1].Values); got != fmt.Sprintf("[[%d %d 1]]", w, i) {
					t.Errorf("writer %d insert %d: read back %s", w, i, got)
				}
				if got := r.Results[2].RowsAffected; got != i+1 {
					t.Errorf("writer %d insert %d: update changed %d rows, want %d", w, i, got, i+1)
				}
				mu.Lock()
				if prev, dup := ids[id]; dup {
					t.Errorf("id %d reported to %+v and to writer %d insert %d", id, prev, w, i)
				}
				ids[id] = rowKey{w, i}
				acked[rowKey{w, i}] = id
				mu.Unlock()
				if i%4 == 3 {
					// A request that fails (duplicate row) rolls back alone:
					// its neighbours in the same run commit.
					r, err := l.Execute(ctx, req(stmt("INSERT INTO t(w, i) VALUES(?, 0)", w)))
					if err == nil && (!r.RolledBack || len(r.Results) != 1 || !strings.Contains(r.Results[0].Error, "UNIQUE")) {
						t.Errorf("writer %d duplicate insert: %+v", w, r)
					}
				}
			}
		}()
	}
	// Meanwhile, checksums at indexes ahead of every member: a member
	// computes one between two entries of a run, which must then be
	// applied up to the index and no further.
	pctx, endProbes := context.WithCancel(ctx)
	compared := make(chan int, 1)
	go func() { compared <- probeChecksums(t, pctx, c, l) }()
	wg.Wait()
	endProbes()
	t.Logf("checksums compared at %d indexes during the run", <-compared)
	if t.Failed() {
		return
	}
	// A leadership change (a new writer epoch, even if this node won
	// again) fails every Execute in flight at once: the writers that
	// stopped then say nothing, but every acknowledged row must be there.
	after := l.Stats()
	moved := !after.Leader || l.Raft().State().Epoch != epoch
	if u := unknown.Load(); u > writers/4 && !moved {
		t.Fatalf("%d of %d writers stopped on an unknown outcome, with no leadership change", u, writers)
	}
	checkRows(t, ctx, c, acked)
	if moved {
		t.Skipf("leadership moved during the run (%d of %d writers stopped): the leader's batch figures are partial", unknown.Load(), writers)
	}
	txs, entries := after.ApplyBatches-before.ApplyBatches, after.ApplyBatchEntries-before.ApplyBatchEntries
	t.Logf("leader %s: %d entries in %d transactions (max %d)", l.ID(), entries, txs, after.MaxApplyBatch)
	if after.MaxApplyBatch < 2 || txs <= 0 || float64(entries)/float64(txs) <= 1 {
		t.Errorf("no group commit: %d entries in %d transactions, max %d", entries, txs, after.MaxApplyBatch)
	}
	if entries < int64(len(acked)) {
		t.Errorf("%d entries applied in transactions, %d inserts acknowledged", entries, len(acked))
	}
}

// probeChecksums asks every member for its checksum at an index a few
// entries ahead of the leader, again and again until ctx ends, fails t if
// two members disagree, and returns at how many indexes two or more
// members answered.
func probeChecksums(t *testing.T, ctx context.Context, c *localcluster.Cluster, l *cluster.Node) int {
	compared := 0
	for k := 0; k < 50 && ctx.Err() == nil; k++ {
		idx := l.Raft().AppliedIndex() + 5
		var mu sync.Mutex
		sums := map[string]sqlnode.Checksum{}
		var wg sync.WaitGroup
		for _, n := range c.Nodes() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sum, err := n.ChecksumAt(ctx, idx) // ErrPassed, or ctx ended: no answer
				if err == nil {
					mu.Lock()
					sums[n.ID()] = sum
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if d := localcluster.Diverged(sums); len(d) > 0 {
			t.Errorf("checksums at %d differ: %v (diverged %v)", idx, sums, d)
		}
		if len(sums) >= 2 {
			compared++
		}
	}
	return compared
}

// TestNode_ApplyBatch_failedRunKeepsAckedWrites: when shared storage fails
// a write during a run's transaction, none of the run is applied; the
// writer withdraws its database, reopens it and replays the run from the
// log. No acknowledged write is lost, and a write whose Execute could not
// get its result (committed, but the database was reopening) is there
// too.
func TestNode_ApplyBatch_failedRunKeepsAckedWrites(t *testing.T) {
	var armed atomic.Bool // the next write to the database or its journal fails
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpWrite && strings.HasPrefix(path.Base(op.Path), "main.db") && armed.CompareAndSwap(true, false) {
			return vfs.ErrInjected
		}
		return nil
	})
	c := startTest(t, localcluster.Options{Nodes: 3, Shared: errorfs.WithErrors(vfs.NewMem(), inj)})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, w INTEGER NOT NULL, i INTEGER NOT NULL, UNIQUE(w, i))"))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const writers, maxEach = 16, 400
	var mu sync.Mutex
	must := map[rowKey]int64{} // acknowledged (id known) or committed (id 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var active atomic.Int64
	for wr := range int64(writers) {
		wg.Add(1)
		active.Add(1)
		go func() {
			defer wg.Done()
			defer active.Add(-1)
			for i := int64(0); i < maxEach; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := w.Execute(ctx, req(stmt("INSERT INTO t(w, i) VALUES(?, ?)", wr, i)))
				switch {
				case errors.Is(err, cluster.ErrNotReady):
					// Refused before the log while the writer's applies
					// fail (nothing committed): wait until its database
					// is back, then send the same row again.
					i--
					if c.WaitFor(ctx, "the database back", func() bool {
						select {
						case <-stop:
							return true
						default:
							return w.Stats().Ready
						}
					}) != nil {
						return
					}
				case err == nil && (r.RolledBack || len(r.Results) != 1):
					t.Errorf("writer %d insert %d: %+v", wr, i, r)
					return
				case err == nil:
					mu.Lock()
					must[rowKey{wr, i}] = r.Results[0].LastInsertID
					mu.Unlock()
				case errors.Is(err, raftcluster.ErrOutcomeUnknown) && strings.Contains(err.Error(), "committed but"):
					mu.Lock()
					must[rowKey{wr, i}] = 0
					mu.Unlock()
				default:
					// Leadership lost, say: the outcome is unknown and this
					// writer's later rows would not tell. Stop it.
					t.Logf("writer %d insert %d: %v", wr, i, err)
					return
				}
			}
		}()
	}

	// Fail one write of the database at a time, until a failed run held
	// more than one entry (bounded).
	var st cluster.Stats
	for attempt := 0; attempt < 10; attempt++ {
		prev := w.Stats()
		if prev.ApplyFailedEntries > prev.ApplyFailures {
			break
		}
		armed.Store(true)
		err := c.WaitFor(ctx, "a failed run, and the database back", func() bool {
			st = w.Stats()
			return st.ApplyFailures > prev.ApplyFailures && st.Ready || active.Load() == 0
		})
		if err == nil && active.Load() == 0 {
			err = errors.New("every writer stopped")
		}
		if err != nil {
			armed.Store(false)
			close(stop)
			wg.Wait()
			t.Fatalf("attempt %d: %v (stats %+v)", attempt, err, st)
		}
	}
	armed.Store(false)
	close(stop)
	wg.Wait()
	st = w.Stats()
	t.Logf("writer %s: %d failed runs holding %d entries; %d reopens; %d rows must be there", w.ID(), st.ApplyFailures, st.ApplyFailedEntries, st.Reopens, len(must))
	if st.ApplyFailedEntries <= st.ApplyFailures {
		t.Errorf("no failed run held more than one entry: %d runs, %d entries", st.ApplyFailures, st.ApplyFailedEntries)
	}
	checkRows(t, ctx, c, must)
}
