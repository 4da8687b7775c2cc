package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// writeLoop inserts rows 0, 1, 2, ... through the leader until stop, and
// records which were acknowledged.
func writeLoop(ctx context.Context, c *localcluster.Cluster, stop <-chan struct{}) (acked []int, unknown []int) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		r, err := c.Execute(octx, req(stmt("INSERT INTO t(id, v) VALUES(?, ?)", i, fmt.Sprintf("row %d", i))))
		cancel()
		switch {
		case err == nil && len(r.Results) == 1 && r.Results[0].Error == "":
			acked = append(acked, i)
		case err == nil:
			panic(fmt.Sprintf("row %d: %+v", i, r))
		default:
			unknown = append(unknown, i)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// storageKinds runs f against each storage: networked and in-process.
func storageKinds(t *testing.T, f func(t *testing.T, kind localcluster.StorageKind)) {
	for _, k := range []localcluster.StorageKind{localcluster.StorageNetworked, localcluster.StorageInProcess} {
		t.Run(map[localcluster.StorageKind]string{localcluster.StorageNetworked: "net", localcluster.StorageInProcess: "inprocess"}[k], func(t *testing.T) { f(t, k) })
	}
}

func TestNode_failover_keepsAckedWrites(t *testing.T) { storageKinds(t, testFailover) }

// TestNode_failover_stabilityPort: the same with each member's stability
// endpoint on a port of its own (serve's -stability-addr) rather than on
// its Raft port.
func TestNode_failover_stabilityPort(t *testing.T) {
	testFailoverOpts(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageNetworked, StabilityPort: true})
}

// TestNode_failover_TRUNCATE: the same with the shared database in
// TRUNCATE mode with synchronous=FULL (every commit synced) rather than
// the default WAL with NORMAL.
func TestNode_failover_TRUNCATE(t *testing.T) {
	testFailoverOpts(t, localcluster.Options{Nodes: 3, Storage: localcluster.StorageInProcess, JournalMode: "TRUNCATE", Synchronous: "FULL"})
}

func testFailover(t *testing.T, kind localcluster.StorageKind) {
	testFailoverOpts(t, localcluster.Options{Nodes: 3, Storage: kind})
}

func testFailoverOpts(t *testing.T, opts localcluster.Options) {
	c := startTest(t, opts)
	if opts.Storage == localcluster.StorageNetworked {
		// Two ports per member unless asked otherwise: the stability
		// endpoint is at the Raft address.
		st := c.Nodes()[0].Raft().State()
		if len(st.Members) != 3 {
			t.Fatalf("members %+v", st.Members)
		}
		for _, m := range st.Members {
			if (m.StabilityAddr == m.RaftAddr) == opts.StabilityPort {
				t.Fatalf("%s: stability at %s, Raft at %s (own stability port: %v)", m.ID, m.StabilityAddr, m.RaftAddr, opts.StabilityPort)
			}
		}
	}
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
	// The database runs in the mode asked for, WAL by default (WAL is
	// recorded in the file).
	rs, err := c.Nodes()[0].Query(ctx, cluster.LevelWeak, []sqlnode.Statement{{SQL: "PRAGMA journal_mode"}})
	if err != nil || rs[0].Error != "" || len(rs[0].Values) != 1 {
		t.Fatalf("PRAGMA journal_mode: %+v %v", rs, err)
	}
	if got := rs[0].Values[0][0]; (got == "wal") != (opts.JournalMode == "WAL" || opts.JournalMode == "") {
		t.Fatalf("journal mode %v, asked for %q", got, opts.JournalMode)
	}
	stop := make(chan struct{})
	var acked, unknown []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); acked, unknown = writeLoop(ctx, c, stop) }()
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Let some writes land, then kill the writer mid-workload.
	if err := c.WaitFor(ctx, "writes", func() bool { return w.Stats().DBIndex > 30 }); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if err := c.Kill(w.ID()); err != nil {
		t.Fatal(err)
	}
	nw, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s -> %s in %v", w.ID(), nw.ID(), time.Since(killedAt))
	base := nw.Stats().DBIndex
	if err := c.WaitFor(ctx, "writes after failover", func() bool { return nw.Stats().DBIndex > base+30 }); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	t.Logf("acked %d, unknown %d", len(acked), len(unknown))
	for _, n := range c.Nodes() {
		rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT id FROM t ORDER BY id"}})
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]bool{}
		for _, row := range rs[0].Values {
			have[row[0].(int64)] = true
		}
		for _, id := range acked {
			if !have[int64(id)] {
				t.Errorf("%s lost acknowledged row %d", n.ID(), id)
			}
		}
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestNode_RequestReset_catchUp(t *testing.T) { storageKinds(t, testReset) }

func testReset(t *testing.T, kind localcluster.StorageKind) {
	c := startTest(t, localcluster.Options{Nodes: 3, Storage: kind})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
	for i := range 50 {
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t VALUES(?, zeroblob(3000))", i))
	}
	w, _ := c.Writer(ctx)
	if err := w.RequestReset(); !errors.Is(err, cluster.ErrNotCopier) {
		t.Errorf("writer reset: %v", err)
	}
	var cp *cluster.Node
	for _, n := range c.Nodes() {
		if n != w {
			cp = n
			break
		}
	}
	before := cp.Stats()
	if before.OverlayBytes == 0 {
		t.Fatalf("copier %s has no overlay after 50 writes", cp.ID())
	}
	// Writes keep coming while the copier resets.
	stop := make(chan struct{})
	var acked []int
	var wg sync.WaitGroup
	wg.Add(1)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS u(id INTEGER PRIMARY KEY, v TEXT)"))
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Execute(ctx, req(stmt("INSERT INTO u VALUES(?, 'x')", i))); err == nil {
				acked = append(acked, i)
			}
		}
	}()
	if err := cp.RequestReset(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, "reset", func() bool { return cp.Stats().Resets > before.Resets }); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	after := cp.Stats()
	t.Logf("overlay %d -> %d bytes; acked %d during reset", before.OverlayBytes, after.OverlayBytes, len(acked))
	if after.OverlayBytes >= before.OverlayBytes {
		t.Errorf("overlay did not shrink: %d -> %d", before.OverlayBytes, after.OverlayBytes)
	}
	if got := queryInt(t, ctx, cp, cluster.LevelLinearizable, "SELECT count(*) FROM u"); got < int64(len(acked)) {
		t.Errorf("after reset: %d rows, %d acknowledged", got, len(acked))
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestNode_ReadOnlyDB(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 2})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"), stmt("INSERT OR REPLACE INTO t VALUES(1, 'one')"))
	for _, n := range c.Nodes() {
		if _, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT 1"}}); err != nil {
			t.Fatal(err)
		}
		db := n.ReadOnlyDB()
		var v string
		if err := db.QueryRowContext(ctx, "SELECT v FROM t WHERE id=1").Scan(&v); err != nil || v != "one" {
			t.Errorf("%s: read %q %v", n.ID(), v, err)
		}
		_, err := db.ExecContext(ctx, "INSERT INTO t VALUES(2, 'two')")
		if !errors.Is(err, sqlnode.ErrReadOnly) || !strings.Contains(err.Error(), "Execute") {
			t.Errorf("%s: write through database/sql: %v", n.ID(), err)
		}
	}
	// The handle survives a reset of its node.
	w, _ := c.Writer(ctx)
	var cp *cluster.Node
	for _, n := range c.Nodes() {
		if n != w {
			cp = n
		}
	}
	db := cp.ReadOnlyDB()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close() // back to the pool, idle
	// Counted from here: a lease lapse under load also resets.
	resets := cp.Stats().Resets
	cp.RequestReset()
	if err := c.WaitFor(ctx, "reset", func() bool { return cp.Stats().Resets > resets }); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t VALUES(3, 'three')"))
	if _, err := cp.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT 1"}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("after reset: count %d %v", n, err)
	}
}

func TestNode_ChecksumAt_detectsDivergence(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
	for i := range 10 {
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t VALUES(?, 'v')", i))
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 {
		t.Fatalf("before: %+v %v", rep, err)
	}
	w, victim := tamperCopier(t, ctx, c, "UPDATE t SET v='tampered' WHERE id=3")
	rep, err = c.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Diverged) != 1 || rep.Diverged[0] != victim.ID() {
		t.Fatalf("diverged %v, want [%s]; checksums %v", rep.Diverged, victim.ID(), rep.Checksums)
	}
	// The writer's shared database is untouched.
	if got := queryInt(t, ctx, w, cluster.LevelLinearizable, "SELECT count(*) FROM t WHERE v='tampered'"); got != 0 {
		t.Errorf("the tampering reached the writer")
	}
	_ = raftcluster.ErrNotLeader
}
