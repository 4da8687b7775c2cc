package cluster_test

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
)

var verbose = flag.Bool("verbose", false, "log cluster and raft at debug level")

// startTest starts an in-process cluster on loopback TLS with Raft logs
// in memory, closed and checked at cleanup.
// testTimeouts are clustertest's, doubled: the machine running the tests
// is shared and loaded, and an election in the middle of a test's setup
// only slows it down.
func testTimeouts() raftcluster.Timeouts {
	to := clustertest.TestTimeouts()
	to.Heartbeat, to.Election, to.LeaderLease, to.WriterLease = 2*to.Heartbeat, 2*to.Election, 2*to.LeaderLease, 2*to.WriterLease
	return to
}

func startTest(t testing.TB, opts localcluster.Options) *localcluster.Cluster {
	t.Helper()
	if opts.Timeouts == (localcluster.Options{}).Timeouts {
		opts.Timeouts = testTimeouts()
	}
	opts.MemRaft = true
	if opts.Shared == nil {
		opts.Shared = vfs.NewMem()
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range c.Nodes() {
			if err := n.Check(); err != nil {
				t.Errorf("check %s: %v", n.ID(), err)
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func stmt(sql string, params ...any) sqlnode.Statement {
	s := sqlnode.Statement{SQL: sql}
	for _, p := range params {
		s.Params = append(s.Params, sqlnode.Param{Value: p})
	}
	return s
}

func req(stmts ...sqlnode.Statement) sqlnode.Request { return sqlnode.Request{Statements: stmts} }

// idempotent reports whether running stmts twice is harmless.
func idempotent(stmts []sqlnode.Statement) bool {
	for _, s := range stmts {
		if !strings.HasPrefix(s.SQL, "CREATE TABLE IF NOT EXISTS") && !strings.HasPrefix(s.SQL, "CREATE INDEX IF NOT EXISTS") &&
			!strings.HasPrefix(s.SQL, "INSERT OR REPLACE") {
			return false
		}
	}
	return true
}

// mustExec executes on the leader and fails on any error or SQL error.
// An idempotent request whose outcome is unknown (a leadership change on a
// loaded machine) is sent again, a few times.
func mustExec(t *testing.T, ctx context.Context, c *localcluster.Cluster, stmts ...sqlnode.Statement) sqlnode.Response {
	t.Helper()
	r, err := c.Execute(ctx, req(stmts...))
	for i := 0; i < 5 && errors.Is(err, raftcluster.ErrOutcomeUnknown) && idempotent(stmts); i++ {
		t.Logf("outcome unknown, sending again: %v", err)
		r, err = c.Execute(ctx, req(stmts...))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			t.Fatalf("%v: %s", stmts, res.Error)
		}
	}
	return r
}

// queryInt reads one integer at level on n.
func queryInt(t *testing.T, ctx context.Context, n *cluster.Node, level cluster.Level, sql string) int64 {
	t.Helper()
	rs, err := n.Query(ctx, level, []sqlnode.Statement{{SQL: sql}})
	if err != nil {
		t.Fatalf("%s on %s: %v", sql, n.ID(), err)
	}
	if rs[0].Error != "" || len(rs[0].Values) != 1 {
		t.Fatalf("%s on %s: %+v", sql, n.ID(), rs[0])
	}
	v, _ := rs[0].Values[0][0].(int64)
	return v
}

// firstLogIndex returns the smallest index >= from that rn's log holds.
func firstLogIndex(rn *raftcluster.Node, from uint64) uint64 { return replica.FirstLogIndex(rn, from) }

// errProbe stops a probing ReadLog at its first entry.
var errProbe = errors.New("probe")
