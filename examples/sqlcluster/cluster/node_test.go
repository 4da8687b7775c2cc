package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

func TestNode_Execute_levels(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v INTEGER)"))
	r := mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO kv VALUES(?, ?)", "a", 1))
	if r.Results[0].RowsAffected != 1 || r.Index == 0 {
		t.Fatalf("insert: %+v", r)
	}
	l, _ := c.Leader(ctx)
	for _, n := range c.Nodes() {
		// Linearizable and weak reads see the acknowledged write on every
		// node; level none eventually does.
		if got := queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT v FROM kv WHERE k='a'"); got != 1 {
			t.Errorf("%s linearizable: %d", n.ID(), got)
		}
		if got := queryInt(t, ctx, n, cluster.LevelWeak, "SELECT count(*) FROM kv"); got != 1 {
			t.Errorf("%s weak: %d", n.ID(), got)
		}
		if err := c.WaitFor(ctx, "level none", func() bool {
			rs, err := n.Query(ctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "SELECT count(*) FROM kv"}})
			return err == nil && rs[0].Error == "" && rs[0].Values[0][0] == int64(1)
		}); err != nil {
			t.Error(err)
		}
		if n != l {
			if _, err := n.Execute(ctx, req(stmt("INSERT INTO kv VALUES('x', 0)"))); !errors.Is(err, raftcluster.ErrNotLeader) {
				t.Errorf("execute on follower %s: %v", n.ID(), err)
			}
		}
	}
	if _, err := l.Query(ctx, cluster.Level(7), []sqlnode.Statement{{SQL: "SELECT 1"}}); !errors.Is(err, cluster.ErrBadLevel) {
		t.Errorf("bad level: %v", err)
	}
	// Non-deterministic SQL is rewritten: every node stores the same value.
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO kv VALUES('r', random())"))
	var vals []int64
	for _, n := range c.Nodes() {
		vals = append(vals, queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT v FROM kv WHERE k='r'"))
	}
	if vals[0] != vals[1] || vals[1] != vals[2] {
		t.Errorf("random() differs between nodes: %v", vals)
	}
	// Transaction control is rejected before the log.
	if _, err := c.Execute(ctx, req(stmt("BEGIN"))); !errors.Is(err, sqlnode.ErrRejected) {
		t.Errorf("BEGIN: %v", err)
	}
	// DDL reports no rows affected.
	r = mustExec(t, ctx, c, stmt("CREATE INDEX IF NOT EXISTS kv_v ON kv(v)"))
	if r.Results[0].RowsAffected != 0 {
		t.Errorf("DDL rows affected %d", r.Results[0].RowsAffected)
	}
}

func TestNode_Execute_atomic(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL CHECK(bal >= 0))"),
		stmt("INSERT OR REPLACE INTO acct VALUES(1, 100), (2, 0)"))
	// A transfer that overdraws fails on its second statement: the first
	// is rolled back with it, on every node, and the error is a result.
	r, err := c.Execute(ctx, req(stmt("UPDATE acct SET bal = bal + 150 WHERE id = 2"), stmt("UPDATE acct SET bal = bal - 150 WHERE id = 1")))
	if err != nil {
		t.Fatal(err)
	}
	if !r.RolledBack || len(r.Results) != 2 || !strings.Contains(r.Results[1].Error, "CHECK") {
		t.Fatalf("overdraft: %+v", r)
	}
	mustExec(t, ctx, c, stmt("UPDATE acct SET bal = bal + 60 WHERE id = 2"), stmt("UPDATE acct SET bal = bal - 60 WHERE id = 1"))
	for _, n := range c.Nodes() {
		if got := queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT bal FROM acct WHERE id=2"); got != 60 {
			t.Errorf("%s: balance %d, want 60", n.ID(), got)
		}
		if got := queryInt(t, ctx, n, cluster.LevelLinearizable, "SELECT sum(bal) FROM acct"); got != 100 {
			t.Errorf("%s: total %d, want 100", n.ID(), got)
		}
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" || len(rep.Checksums) != 3 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
