package cluster_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/stability"
)

// TestLocal_lapsedCopier_notReadyUntilReset: a copier whose view was
// invalidated (what its Responder does when its stability lease lapses,
// as it does on a loaded machine when the writer changes) refuses reads
// until it resets (invariant 7). The refusal is ErrNotReady wrapping the
// cause, never SQLite's bare "disk I/O error"; Check has nothing to
// verify meanwhile; Verify waits for the reset instead of reporting the
// copier as diverged.
func TestLocal_lapsedCopier_notReadyUntilReset(t *testing.T) {
	testLapsed(t, localcluster.Options{Nodes: 3, JournalMode: "TRUNCATE", Synchronous: "FULL"})
}

// TestLocal_lapsedCopier_notReadyUntilReset_WAL: the same in WAL mode,
// where a read can be served from SQLite's page cache and the node-local
// WAL index without touching the invalidated view: the node itself must
// refuse it.
func TestLocal_lapsedCopier_notReadyUntilReset_WAL(t *testing.T) {
	testLapsed(t, localcluster.Options{Nodes: 3, JournalMode: "WAL", Synchronous: "NORMAL"})
}

// TestLocal_lapsedCopier_refresh: the same for copiers in refresh mode,
// in both journal modes: a lapsed copier refuses reads (and does not
// refresh) until it resets, then serves again.
func TestLocal_lapsedCopier_refresh(t *testing.T) {
	for _, m := range sqliteModes {
		t.Run(m.name, func(t *testing.T) { testLapsed(t, refreshOpts(m.journal, m.sync)) })
	}
}

func testLapsed(t *testing.T, opts localcluster.Options) {
	c := startTest(t, opts)
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY)"))
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t VALUES(1)"))
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cp *cluster.Node
	for _, n := range c.Nodes() {
		if n != w {
			cp = n
			break
		}
	}
	if got := queryInt(t, ctx, cp, cluster.LevelLinearizable, "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("%s sees %d rows, want 1", cp.ID(), got)
	}
	v := cluster.Store(cp).(interface{ View() *cow.View }).View()
	if v == nil || v.Role() != cow.RoleCopier {
		t.Fatalf("%s: no copier view", cp.ID())
	}
	resets := cp.Stats().Resets

	// A database/sql connection open before the lapse, and one opened
	// after.
	ro := cp.ReadOnlyDB()
	warm, err := ro.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	var count int
	if err := warm.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&count); err != nil || count != 1 {
		t.Fatalf("read-only DB: %d %v, want 1", count, err)
	}

	v.Invalidate(stability.ErrLeaseExpired)
	notReady := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, cluster.ErrNotReady) || !errors.Is(err, cow.ErrInvalidated) || !errors.Is(err, stability.ErrLeaseExpired) {
			t.Fatalf("%s on a lapsed copier: %v, want ErrNotReady wrapping the lapse", what, err)
		}
	}
	_, err = cp.Query(ctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "SELECT count(*) FROM t"}})
	notReady("read", err)
	_, err = cp.Query(ctx, cluster.LevelNone, []sqlnode.Statement{{SQL: "PRAGMA integrity_check"}})
	notReady("integrity_check", err)
	notReady("backup", cp.BackupTo(ctx, cluster.LevelNone, filepath.Join(t.TempDir(), "backup.db")))
	// A read that the lapse caught halfway fails with whatever SQLite
	// made of the view's refusal: that is reported as the refusal.
	notReady("read failed halfway", cluster.ReadFailed(ctx, cp, errors.New("sqlnode: disk I/O error")))
	notReady("read-only DB read", warm.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&count))
	cold, err := ro.Conn(ctx)
	if err == nil {
		err = cold.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&count)
		cold.Close()
	}
	notReady("read-only DB read on a new connection", err)
	warm.Close()
	if err := cp.Check(); err != nil {
		t.Fatalf("check on a lapsed copier: %v", err)
	}

	// The copier resets (here on request; after a real lapse, when the
	// writer excludes it); Verify, started before, waits for it.
	if err := cp.RequestReset(); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Verify(ctx)
	if err != nil || len(rep.Diverged) != 0 || rep.Integrity != "ok" || len(rep.Checksums) != 3 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if got := cp.Stats().Resets; got <= resets {
		t.Fatalf("%s verified without a reset (resets %d -> %d)", cp.ID(), resets, got)
	}
	if got := queryInt(t, ctx, cp, cluster.LevelLinearizable, "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("%s sees %d rows after reset, want 1", cp.ID(), got)
	}
}
