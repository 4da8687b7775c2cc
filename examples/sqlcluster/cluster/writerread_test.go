package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// TestNode_Query_deposedWriterRefuses: the writer's database is shared
// storage itself. Once the writer can no longer prove it is the writer
// (here it lost its quorum; in a partition a successor may already be
// mutating), its LevelNone reads are refused instead of reading shared
// storage that another writer may be changing. A copier's reads stay
// served from its own snapshot.
func TestNode_Query_deposedWriterRefuses(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE t(v)"), stmt("INSERT INTO t VALUES (1)"))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, ctx, w, cluster.LevelNone, "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("writer reads %d rows", got)
	}
	var n int
	prepared, err := w.ReadOnlyDB().PrepareContext(ctx, "SELECT count(*) FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	if err := prepared.QueryRowContext(ctx).Scan(&n); err != nil || n != 1 {
		t.Fatalf("writer's database/sql reads %d rows, %v", n, err)
	}
	var copier *cluster.Node
	for _, n := range c.Nodes() {
		if n != w {
			copier = n
		}
	}
	if got := queryInt(t, ctx, copier, cluster.LevelNone, "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("copier reads %d rows", got)
	}
	for _, n := range c.Nodes() {
		if n != w {
			if err := c.Kill(n.ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.WaitFor(ctx, "the writer to step down without a quorum", func() bool { return !w.Raft().IsLeader() }); err != nil {
		t.Fatal(err)
	}
	_, err = w.Query(ctx, cluster.LevelNone, []sqlnode.Statement{stmt("SELECT count(*) FROM t")})
	if !errors.Is(err, cluster.ErrNotReady) || !errors.Is(err, raftcluster.ErrFenced) {
		t.Fatalf("deposed writer's read: %v, want ErrNotReady and ErrFenced", err)
	}
	// database/sql: a statement prepared while it was the writer, and a
	// new one, are refused too.
	if err := prepared.QueryRowContext(ctx).Scan(&n); !errors.Is(err, cluster.ErrNotReady) {
		t.Fatalf("deposed writer's prepared read: %v, want ErrNotReady", err)
	}
	if err := w.ReadOnlyDB().QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); !errors.Is(err, cluster.ErrNotReady) {
		t.Fatalf("deposed writer's database/sql read: %v, want ErrNotReady", err)
	}
	if tx, err := w.ReadOnlyDB().BeginTx(ctx, nil); !errors.Is(err, cluster.ErrNotReady) {
		if tx != nil {
			tx.Rollback()
		}
		t.Fatalf("deposed writer's database/sql transaction: %v, want ErrNotReady", err)
	}
}
