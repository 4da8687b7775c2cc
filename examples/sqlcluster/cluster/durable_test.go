package cluster_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/vfs"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// A copier's compaction bound follows the writer's durable markers: a
// write is not compactable on a copier until a marker covers it, and on
// the writer it is once applied (durableIndex flushes first).
func TestNode_compactable_followsDurableMarkers(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3, DurableInterval: time.Hour})
	ctx := testCtx(t, 30*time.Second)
	r := mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(x)"))
	w, _ := c.Writer(ctx)
	if got := cluster.Compactable(w); got < r.Index {
		t.Errorf("writer: compactable %d below its applied write %d", got, r.Index)
	}
	for _, n := range c.Nodes() {
		if n == w {
			continue
		}
		if err := n.Raft().WaitApplied(ctx, r.Index); err != nil {
			t.Fatal(err)
		}
		if got := cluster.Compactable(n); got >= r.Index {
			t.Errorf("%s: compactable %d before any marker covers write %d", n.ID(), got, r.Index)
		}
	}
	d, err := w.Checkpoint(ctx)
	if err != nil || d < r.Index {
		t.Fatalf("checkpoint: %d %v", d, err)
	}
	for _, n := range c.Nodes() {
		if err := c.WaitFor(ctx, "marker applied", func() bool { return cluster.Compactable(n) >= r.Index }); err != nil {
			t.Errorf("%s: %v (compactable %d)", n.ID(), err, cluster.Compactable(n))
		}
	}
}

func TestBackend_errorsAndLevels(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 2})
	ctx := testCtx(t, 30*time.Second)
	w, _ := c.Writer(ctx)
	var f *cluster.Node
	for _, n := range c.Nodes() {
		if n != w {
			f = n
		}
	}
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(x)"), stmt("INSERT OR REPLACE INTO t(rowid, x) VALUES(1, 1)"))
	if l, err := c.Leader(ctx); err == nil {
		r, err := l.Backend().Execute(ctx, req(stmt("SELECT count(*) FROM t")))
		if err != nil || len(r.Results) != 1 || r.Results[0].Values[0][0] != int64(1) {
			t.Errorf("execute through the leader's backend: %+v %v", r, err)
		}
	}
	_, err := f.Backend().Execute(ctx, req(stmt("INSERT INTO t VALUES(2)")))
	var nl *httpapi.NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, httpapi.ErrNotLeader) {
		t.Errorf("execute on a follower: %v", err)
	}
	for _, l := range []httpapi.Level{httpapi.LevelNone, httpapi.LevelWeak, httpapi.LevelLinearizable, httpapi.LevelStrong} {
		if l == httpapi.LevelNone {
			c.WaitFor(ctx, "follower applied", func() bool { return f.Stats().DBIndex >= w.Stats().DBIndex })
		}
		rs, err := f.Backend().Query(ctx, l, []sqlnode.Statement{{SQL: "SELECT count(*) FROM t"}})
		if err != nil || rs[0].Values[0][0] != int64(1) {
			t.Errorf("level %v: %+v %v", l, rs, err)
		}
	}
	if _, err := f.Backend().Query(ctx, httpapi.Level(9), nil); !errors.Is(err, httpapi.ErrBadRequest) {
		t.Errorf("bad level: %v", err)
	}
	if err := f.Backend().Ready(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	st, err := w.Backend().Status(ctx)
	if err != nil || st.State != "Leader" || st.NodeID != w.ID() {
		t.Errorf("status: %+v %v", st, err)
	}
	ns, err := f.Backend().Nodes(ctx)
	if err != nil || len(ns) != 2 {
		t.Errorf("nodes: %+v %v", ns, err)
	}
	if err := w.Backend().Remove(ctx, "nobody"); !errors.Is(err, httpapi.ErrNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
}

// In WAL mode with synchronous=NORMAL a commit is not synced: the writer's
// compactable index (what the log may be compacted up to) must be durable
// anyway, so durableIndex flushes first. A power loss of shared storage
// right after it (only synced changes survive) keeps every entry up to it.
func TestNode_compactable_WAL_isDurable(t *testing.T) {
	mem := vfs.NewMem()
	c := startTest(t, localcluster.Options{Nodes: 2, DurableInterval: time.Hour, Shared: mem,
		JournalMode: "WAL", Synchronous: "NORMAL"})
	ctx := testCtx(t, 30*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(x)"))
	var last uint64
	for i := range 20 {
		last = mustExec(t, ctx, c, stmt("INSERT INTO t VALUES(?)", i)).Index
	}
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := cluster.Compactable(w)
	if d < last {
		t.Fatalf("writer: compactable %d below its applied write %d", d, last)
	}
	clone := mem.CrashClone(vfs.CrashOptions{Seed: 1, KeepUnsynced: 0})
	db := openSQLOn(t, fmt.Sprintf("durable-wal-%p", clone), clone, sqlnode.Options{})
	if got := db.AppliedIndex(); got < last {
		t.Fatalf("after a power loss: applied index %d, but %d was reported durable (compactable %d)", got, last, d)
	}
}
