package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// TestNode_apply_recoversWithoutMoreWrites: when an entry fails to apply
// on the writer (shared storage refused a write: an I/O error, or the
// writer lease lapsed under load), the engine withdraws its database and
// must reopen it once the cause is gone, even if no further SQL entry
// arrives. It used to retry only from the apply of the next SQL entry: a
// leader whose last entries failed kept its database withdrawn for good,
// and readers (Query, localcluster.Cluster.Writer, Execute's wait for
// its result) blocked in acquire.
func TestNode_apply_recoversWithoutMoreWrites(t *testing.T) {
	storageKinds(t, func(t *testing.T, kind localcluster.StorageKind) {
		fail := errorfs.NewToggle(errorfs.OnKinds(errorfs.Always(),
			errorfs.OpWrite, errorfs.OpTruncate, errorfs.OpSync, errorfs.OpSyncData))
		c := startTest(t, localcluster.Options{Nodes: 3, Storage: kind, Shared: errorfs.WithErrors(vfs.NewMem(), fail)})
		ctx := testCtx(t, 45*time.Second)
		mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
		mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(1, 'one')"))
		w, err := c.Writer(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// Shared storage refuses writes: the writer's apply fails.
		fail.Arm()
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = w.Execute(octx, req(stmt("INSERT INTO t(id, v) VALUES(2, 'two')")))
		cancel()
		fail.Disarm()
		if !errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			t.Fatalf("execute while shared storage fails writes: got %v, want ErrOutcomeUnknown", err)
		}

		// No more writes: the leader's database must come back by itself.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if got := queryInt(t, rctx, w, cluster.LevelNone, "SELECT count(*) FROM t"); got != 2 {
			t.Fatalf("rows on the writer after recovery: %d, want 2", got)
		}
		if _, err := c.Writer(rctx); err != nil {
			t.Fatal(err)
		}
		mustExec(t, ctx, c, stmt("INSERT INTO t(id, v) VALUES(3, 'three')"))
		rep, err := c.Verify(ctx)
		if err != nil || len(rep.Diverged) > 0 || rep.Integrity != "ok" {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	})
}
