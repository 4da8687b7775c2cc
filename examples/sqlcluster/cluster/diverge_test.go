package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/ncruces/go-sqlite3"
)

// tamperCopier changes a copier's database behind the log's back: a
// connection on its own view runs sql, which changes its overlay only. It
// returns the writer and the copier.
func tamperCopier(t *testing.T, ctx context.Context, c *localcluster.Cluster, sql string) (w, victim *cluster.Node) {
	t.Helper()
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if n != w {
			victim = n
			break
		}
	}
	var name string
	cluster.LockedDB(victim, func(st replica.State[*cluster.SQLDB]) {
		if st.Open {
			name = cluster.VFSName(st.DB)
		}
	})
	conn, err := sqlite3.Open("file:main.db?vfs=" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(sql); err != nil {
		t.Fatal(err)
	}
	return w, victim
}

// httpGet serves one GET of path with n's HTTP API.
func httpGet(t *testing.T, n *cluster.Node, path string) (int, string) {
	t.Helper()
	srv, err := httpapi.New(httpapi.Config{Backend: n.Backend()})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// verifyConverged waits for a writer, then checks that every member has
// the same checksum at the same index and an intact database.
func verifyConverged(t *testing.T, ctx context.Context, c *localcluster.Cluster) localcluster.Report {
	t.Helper()
	if _, err := c.Writer(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) > 0 || rep.Integrity != "ok" || len(rep.Checksums) != len(c.Nodes()) {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	return rep
}

// sameOnEveryNode reads sql (one integer) on every member, at the
// linearizable level, and checks that all agree; it returns the value.
func sameOnEveryNode(t *testing.T, ctx context.Context, c *localcluster.Cluster, sql string) int64 {
	t.Helper()
	var want int64
	for i, n := range c.Nodes() {
		got := queryInt(t, ctx, n, cluster.LevelLinearizable, sql)
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("%s: %s has %d, %s has %d", sql, c.Nodes()[0].ID(), want, n.ID(), got)
		}
	}
	return want
}

// TestLocal_diskFull_converges: shared storage fills up while the writer
// applies a DELETE. The copiers (whose changes go to their overlays)
// apply it; the writer must not record "database or disk is full" as the
// DELETE's result (it did: the nodes then differed at the same index),
// but leave it unapplied, keep its role (a copier would fail alike on the
// same full storage) while saying why it is not ready, and apply it once
// space is freed. All members then agree.
func TestLocal_diskFull_converges(t *testing.T) {
	mem := vfs.NewMem()
	quota := errorfs.NewQuota(mem)
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess, Shared: errorfs.WithErrors(mem, quota)})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
	const rows, moreRows = 200, 10
	mustExec(t, ctx, c, stmt(fmt.Sprintf("INSERT INTO t(v) SELECT printf('%%.300c', 'x') FROM generate_series(1, %d)", rows)))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Full: room for a small transaction (the applied index alone), not
	// for the DELETE's journal.
	if err := quota.Fill(4 * cluster.PageSize); err != nil {
		t.Fatal(err)
	}
	// The DELETE while full: committed, applied by the copiers, not (yet)
	// by the writer.
	del := "DELETE FROM t WHERE id % 2 = 0"
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = w.Execute(octx, req(stmt(del)))
	cancel()
	if !errors.Is(err, raftcluster.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("DELETE while full: %v, want ErrOutcomeUnknown saying the storage is full", err)
	}
	// The writer now knows: it refuses more writes before the log.
	more := fmt.Sprintf("INSERT INTO t(v) SELECT printf('%%.300c', 'y') FROM generate_series(1, %d)", moreRows)
	if _, err := w.Execute(ctx, req(stmt(more))); !errors.Is(err, cluster.ErrNotReady) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("insert while full: %v, want ErrNotReady saying the storage is full", err)
	}
	// The writer keeps failing, and keeps its role past HandOverAfter.
	if err := c.WaitFor(ctx, "failures past the hand-over threshold", func() bool {
		h := w.Stats().Apply
		return h.Failing && h.Consecutive > cluster.HandOverAfter
	}); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Apply.Kind != cluster.FailureStorageFull || st.Apply.HandOvers != 0 || !w.Raft().IsLeader() {
		t.Fatalf("while full: apply %+v, leader %v; want storage-full, no hand-over, still the leader", st.Apply, w.Raft().IsLeader())
	}
	if err := w.Backend().Ready(ctx); !errors.Is(err, httpapi.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("ready while full: %v", err)
	}
	if code, body := httpGet(t, w, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shared storage is full") {
		t.Fatalf("GET /readyz while full: %d %s", code, body)
	}
	qctx, qcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = w.Query(qctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "SELECT 1"}})
	qcancel()
	if !errors.Is(err, cluster.ErrNotReady) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("read on the writer while full: %v, want ErrNotReady saying why", err)
	}
	status, err := w.Backend().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := status.Extra["apply"].(map[string]any); a["state"] != "failing" || a["kind"] != "storage-full" || a["writer_change_helps"] != false {
		t.Fatalf("status while full: %v", a)
	}

	// Space freed: the writer catches up by itself; everyone agrees.
	quota.SetLimit(0)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.WaitFor(rctx, "the writer applies again", func() bool { return !w.Stats().Apply.Failing && w.Stats().Ready }); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(1000001, 'after')"))
	mustExec(t, ctx, c, stmt(more)) // what was refused: ids 201..210
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t WHERE id % 2 = 0 AND id <= 200"); n != 0 {
		t.Errorf("%d even rows left: the DELETE was not applied everywhere", n)
	}
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t"); n != rows/2+moreRows+1 {
		t.Errorf("%d rows, want %d: the DELETE applied other than once", n, rows/2+moreRows+1)
	}
}

// TestLocal_maxRowid_sameEverywhere: with the largest rowid taken, SQLite
// picks the next rowid at random, and each node picked its own. The
// largest rowid is now refused, the same on every node; and a divergence
// in rowids alone (the hidden rowid of a table without INTEGER PRIMARY
// KEY) is caught by Verify.
func TestLocal_maxRowid_sameEverywhere(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS mr(id INTEGER PRIMARY KEY, v)"), stmt("CREATE TABLE IF NOT EXISTS h(v)"))
	r, err := c.Execute(ctx, req(stmt("INSERT INTO mr VALUES(9223372036854775807, 0)")))
	if err != nil || !r.RolledBack || !strings.Contains(r.Results[0].Error, "largest rowid") {
		t.Fatalf("insert of the largest rowid: %+v %v", r, err)
	}
	r = mustExec(t, ctx, c, stmt("INSERT INTO mr(v) VALUES(1)"))
	if id := r.Results[0].LastInsertID; id != 1 {
		t.Errorf("rowid %d, want 1", id)
	}
	r, err = c.Execute(ctx, req(stmt("INSERT INTO h(rowid, v) VALUES(9223372036854775807, 'a'), (NULL, 'b')")))
	if err != nil || !r.RolledBack || r.Results[0].LastInsertID != 0 {
		t.Fatalf("multi-row insert past the largest rowid: %+v %v", r, err)
	}
	mustExec(t, ctx, c, stmt("INSERT INTO h(v) VALUES('x'), ('y')"))
	if n := sameOnEveryNode(t, ctx, c, "SELECT sum(id) FROM mr"); n != 1 {
		t.Errorf("sum of rowids %d, want 1", n)
	}
	sameOnEveryNode(t, ctx, c, "SELECT sum(rowid) FROM h")
	verifyConverged(t, ctx, c)

	// Tamper with a hidden rowid on a copier: only the rowid differs.
	_, victim := tamperCopier(t, ctx, c, "UPDATE h SET rowid=rowid+1000 WHERE v='y'")
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 1 || rep.Diverged[0] != victim.ID() {
		t.Fatalf("diverged %v (%v), want [%s]", rep.Diverged, err, victim.ID())
	}
}

const neverEnds = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"

// neverEndsWrite is neverEnds in a write, which no read-only pre-check
// sees: it reaches the log, and apply's bound stops it on every node.
const neverEndsWrite = "INSERT INTO t(v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c"

// TestLocal_stepLimit: a request that never ends used to hold every later
// write behind it. The leader refuses a read-only one before the log; a
// write that reaches the log fails everywhere at the step bound, as its
// result; later writes proceed, and the members agree. Through the HTTP
// API too.
func TestLocal_stepLimit(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, MaxSteps: 100_000})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)"))
	_, err := c.Execute(ctx, req(stmt(neverEnds)))
	if !errors.Is(err, sqlnode.ErrRejected) || !errors.Is(err, sqlnode.ErrStepLimit) {
		t.Fatalf("never-ending read through Execute: %v, want ErrRejected and ErrStepLimit", err)
	}
	// The request has no effect either way: send it again if a leadership
	// change on a loaded machine leaves its outcome unknown.
	r, err := c.Execute(ctx, req(stmt("INSERT INTO t(v) VALUES('kept?')"), stmt(neverEndsWrite)))
	for i := 0; i < 5 && errors.Is(err, raftcluster.ErrOutcomeUnknown); i++ {
		t.Logf("outcome unknown, sending again: %v", err)
		r, err = c.Execute(ctx, req(stmt("INSERT INTO t(v) VALUES('kept?')"), stmt(neverEndsWrite)))
	}
	if err != nil || !r.RolledBack || !strings.Contains(r.Results[len(r.Results)-1].Error, sqlnode.ErrStepLimit.Error()) {
		t.Fatalf("never-ending write: %+v, %v; want a step-limit result", r, err)
	}
	mustExec(t, ctx, c, stmt("INSERT INTO t(v) VALUES('after')"))

	// The HTTP API of the leader (of each, should leadership move on a
	// loaded machine).
	post := leaderAPI(t, ctx, c, httpapi.Limits{})
	if code, body := post(`["` + neverEnds + `"]`); code != http.StatusBadRequest || !strings.Contains(body, "step limit") {
		t.Errorf("never-ending read over HTTP: %d %s", code, body)
	}
	if code, body := post(`["` + neverEndsWrite + `"]`); code != http.StatusOK || !strings.Contains(body, "step limit") {
		t.Errorf("never-ending write over HTTP: %d %s", code, body)
	}
	if code, body := post(`["INSERT OR REPLACE INTO t(id, v) VALUES(100, 'http')"]`); code != http.StatusOK || strings.Contains(body, "error") {
		t.Errorf("a write after: %d %s", code, body)
	}
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

// TestLocal_stepLimit_replayed: the writer fails to apply a request that
// runs into the step bound (its storage fails meanwhile), and replays it
// when it reopens: the replay ends at the bound too, with the result the
// copiers recorded, and the members agree.
func TestLocal_stepLimit_replayed(t *testing.T) {
	fail := errorfs.NewToggle(errorfs.OnKinds(errorfs.Always(), errorfs.OpWrite, errorfs.OpTruncate))
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess, MaxSteps: 100_000,
		Shared: errorfs.WithErrors(vfs.NewMem(), fail)})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)"))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fail.Arm()
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = w.Execute(octx, req(stmt(neverEndsWrite)))
	cancel()
	fail.Disarm()
	if !errors.Is(err, raftcluster.ErrOutcomeUnknown) || w.Stats().ApplyFailures == 0 {
		t.Fatalf("poison while the writer's storage fails: %v, apply failures %d", err, w.Stats().ApplyFailures)
	}
	if err := c.WaitFor(ctx, "the writer to catch up", func() bool { return w.Stats().Ready && !w.Stats().Apply.Failing }); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(1, 'after')"))
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t"); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

// TestLocal_Close_interruptsApply: without a bound, a never-ending
// request (pure computation: no I/O that closing the storage would break)
// holds the apply forever; closing the members (what SIGTERM does in the
// server) must stop it rather than wait for it.
func TestLocal_Close_interruptsApply(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, MaxSteps: -1})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)"))
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The target is read before the write is sent: read after, it could
	// already be the write's own index plus one, which nothing commits.
	target := l.Raft().CommitIndex() + 1
	go func() {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		l.Execute(octx, req(stmt(neverEnds))) // no bound: no pre-check either
	}()
	if err := c.WaitFor(ctx, "the write to be committed and stuck in apply", func() bool {
		// Another entry (a barrier, say) may commit first: what counts is
		// an entry at or past target committed and not applied.
		ci := l.Raft().CommitIndex()
		return ci >= target && l.Raft().AppliedIndex() < ci
	}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		t.Logf("closed in %v", time.Since(start))
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not interrupt the apply")
	}
}

// TestLocal_failingWriterHandsOver: a writer whose applies keep failing
// with an I/O error (not a full disk) hands leadership over after
// HandOverAfter attempts; the new writer applies what it missed.
func TestLocal_failingWriterHandsOver(t *testing.T) {
	fail := errorfs.NewToggle(errorfs.OnKinds(errorfs.Always(), errorfs.OpWrite, errorfs.OpTruncate))
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess, Shared: errorfs.WithErrors(vfs.NewMem(), fail)})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)"))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Watch the old writer's status while it fails (the hand-over may
	// come before Execute returns).
	seen := make(chan map[string]any, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-tk.C:
			}
			if st, err := w.Backend().Status(watchCtx); err == nil {
				if a := st.Extra["apply"].(map[string]any); a["state"] == "failing" {
					seen <- a
					return
				}
			}
		}
	}()
	fail.Arm()
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = w.Execute(octx, req(stmt("INSERT INTO t(id, v) VALUES(1, 'one')")))
	cancel()
	if !errors.Is(err, raftcluster.ErrOutcomeUnknown) {
		t.Fatalf("write while the writer's storage fails: %v", err)
	}
	if err := c.WaitFor(ctx, "a hand-over", func() bool { return !w.Raft().IsLeader() }); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Apply.HandOvers == 0 {
		fail.Disarm()
		t.Skip("leadership moved before the hand-over (an election on a loaded machine)")
	}
	fail.Disarm() // the fault was the old writer's
	select {
	case a := <-seen:
		if a["kind"] != "io" || a["writer_change_helps"] != true {
			t.Errorf("status while failing: %v", a)
		}
	case <-ctx.Done():
		t.Fatal("the old writer's status never said it was failing")
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(2, 'two')"))
	if nw, err := c.Writer(ctx); err != nil || nw == w {
		t.Fatalf("writer after the hand-over: %v %v", nw, err)
	}
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	if st := w.Stats(); st.Apply.Failing || st.Apply.HandOvers != 1 {
		t.Errorf("old writer: %+v", st.Apply)
	}
}

// TestFencedApply_isARefusal: a write that the writer Guard refuses fails
// the apply with an error that says so (errors.Is raftcluster.ErrFenced)
// and is classified as such, and the HTTP layer answers 503, not 500; it
// used to be logged as "disk I/O error". In WAL mode (the default) the
// refused write is the WAL append; in TRUNCATE mode, the journal's.
func TestFencedApply_isARefusal(t *testing.T) {
	t.Run("WAL", func(t *testing.T) { testFencedApply(t, "WAL", "NORMAL") })
	t.Run("TRUNCATE", func(t *testing.T) { testFencedApply(t, "TRUNCATE", "FULL") })
}

func testFencedApply(t *testing.T, journal, synchronous string) {
	var fenced atomic.Bool
	guard := func(context.Context) error {
		if fenced.Load() {
			return &raftcluster.OpError{Op: "guard", Err: fmt.Errorf("%w: writer lease lapsed", raftcluster.ErrFenced)}
		}
		return nil
	}
	view, err := cow.NewWriter(vfs.NewMem(), cow.NewDirect(), cow.Options{BlockSize: cluster.PageSize, Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLOn(t, "fenced-apply-test-"+journal, view, sqlnode.Options{JournalMode: journal, Synchronous: synchronous})
	// 4 MiB of pages: past the blocks that cow stabilizes ahead of an
	// append (it takes the next 256 along with a round), so the write
	// needs a stability round of its own.
	cmd, err := sqlnode.Prepare(req(stmt("CREATE TABLE t(x)"), stmt("INSERT INTO t VALUES(zeroblob(4194304))")), sqlnode.Env{})
	if err != nil {
		t.Fatal(err)
	}
	fenced.Store(true)
	_, err = db.Apply(1, cmd)
	if !errors.Is(err, sqlnode.ErrApply) || !errors.Is(err, raftcluster.ErrFenced) {
		t.Fatalf("fenced apply: %v, want ErrApply with ErrFenced", err)
	}
	t.Logf("fenced apply: %v", err)
	if msg := err.Error(); strings.Contains(msg, "I/O") && strings.Index(msg, "fenced") > strings.Index(msg, "I/O") {
		t.Errorf("the message leads with SQLite's I/O error, not the refusal: %s", msg)
	}
	if k := cluster.ClassifyFailure(err); k != cluster.FailureFenced {
		t.Errorf("classified %q, want fenced", k)
	}
	execErr := fmt.Errorf("%w: entry 1 committed, but this node could not apply it: %w", raftcluster.ErrOutcomeUnknown, err)
	if mapped := cluster.MapErr(execErr); !errors.Is(mapped, httpapi.ErrUnavailable) {
		t.Errorf("HTTP mapping: %v, want ErrUnavailable (503)", mapped)
	}
	// A leader that lost its lease with the entry in flight: the client
	// is told the outcome is unknown, and why, not "internal error".
	lost := &raftcluster.OpError{Op: "apply", Err: fmt.Errorf("%w: leadership lost while committing log", raftcluster.ErrOutcomeUnknown)}
	if mapped := cluster.MapErr(lost); !errors.Is(mapped, httpapi.ErrOutcomeUnknown) {
		t.Errorf("HTTP mapping: %v, want httpapi.ErrOutcomeUnknown", mapped)
	}
	fenced.Store(false)
	if _, err := db.Apply(1, cmd); err != nil {
		t.Fatalf("once the guard passes: %v", err)
	}
	// Flush (the writer's, before each durable marker) says so too: it
	// used to report a bare "disk I/O error".
	fenced.Store(true)
	_, err = db.Flush()
	if !errors.Is(err, sqlnode.ErrApply) || !errors.Is(err, raftcluster.ErrFenced) || cluster.ClassifyFailure(err) != cluster.FailureFenced {
		t.Fatalf("fenced flush: %v, want ErrApply with ErrFenced", err)
	}
	t.Logf("fenced flush: %v", err)
	fenced.Store(false)
	if _, err := db.Flush(); err != nil {
		t.Fatalf("flush once the guard passes: %v", err)
	}
}

// TestDeposedWriterApply_isFenced: a mutation in flight when the writer is
// fenced (netstorage's Fence closes its stability Coordinator) fails its
// stability round with stability.ErrClosed; that is classified as a
// fencing refusal, not a storage failure (under load, /readyz and 503s
// said "storage failure ... stability: closed").
func TestDeposedWriterApply_isFenced(t *testing.T) {
	coord, err := stability.NewCoordinator(stability.Config{ID: "w", Transport: stabilitytest.NewNetwork(1).Transport("w")})
	if err != nil {
		t.Fatal(err)
	}
	view, err := cow.NewWriter(vfs.NewMem(), coord, cow.Options{BlockSize: cluster.PageSize})
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLOn(t, "deposed-apply-test", view, sqlnode.Options{})
	create, err := sqlnode.Prepare(req(stmt("CREATE TABLE t(x)")), sqlnode.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(1, create); err != nil {
		t.Fatal(err)
	}
	// The database and its WAL now exist; a copier that joins makes the
	// writer forget its stable set. Without that, every file the writer
	// created in this generation would be stable as a whole (no copier
	// reads it), and the insert would need no round at all: it is then
	// the writer view's Guard, not a failing round, that fences it
	// (cow's TestWriter_createdFileGuard; raftcluster closes the Guard
	// before Storage.Fence closes the Coordinator).
	view.Forget()
	// 4 MiB of pages: past the blocks that cow stabilizes ahead of an
	// append (it takes the next 256 along with a round), so the write
	// needs a stability round.
	cmd, err := sqlnode.Prepare(req(stmt("INSERT INTO t VALUES(zeroblob(4194304))")), sqlnode.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = db.Apply(2, cmd)
	if !errors.Is(err, sqlnode.ErrApply) || !errors.Is(err, stability.ErrClosed) {
		t.Fatalf("apply after the Coordinator closed: %v, want ErrApply with stability.ErrClosed", err)
	}
	t.Logf("apply of a deposed writer: %v", err)
	if k := cluster.ClassifyFailure(err); k != cluster.FailureFenced {
		t.Errorf("classified %q, want fenced", k)
	}
}

// openSQLOn opens the database main.db on fsys as the cluster does (its
// page size, a node-local WAL index), through a VFS registered as name;
// the test's cleanup closes it and unregisters the VFS.
func openSQLOn(t *testing.T, name string, fsys vfs.FS, opts sqlnode.Options) *sqlnode.Node {
	t.Helper()
	if err := sqlitevfs.Register(name, fsys, sqlitevfs.WithPageSize(cluster.PageSize), sqlitevfs.WithSharedMemory(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlitevfs.Unregister(name) })
	opts.VFS, opts.Path, opts.PageSize = name, "main.db", cluster.PageSize
	db, err := sqlnode.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
