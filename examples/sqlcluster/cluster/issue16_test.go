package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
)

// execAgain executes a request whose second run is harmless (it rolls back,
// or only creates what does not exist), sending it again while its outcome
// is unknown (a leadership change on a loaded machine).
func execAgain(t *testing.T, ctx context.Context, c *localcluster.Cluster, sqls ...string) sqlnode.Response {
	t.Helper()
	var stmts []sqlnode.Statement
	for _, s := range sqls {
		stmts = append(stmts, stmt(s))
	}
	r, err := c.Execute(ctx, req(stmts...))
	for i := 0; i < 5 && errors.Is(err, raftcluster.ErrOutcomeUnknown); i++ {
		t.Logf("outcome unknown, sending again: %v", err)
		r, err = c.Execute(ctx, req(stmts...))
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const maxRowid = "9223372036854775807"

// TestLocal_maxRowid_withinStatement: one statement that takes the largest
// rowid, inserts a row without one (SQLite then picks a random rowid, a
// different one on each node) and deletes the largest row again left
// nothing for the check after the statement to see: the members
// diverged. It is now refused during the statement, on every member;
// they agree (the same checksum at the same index), whether the largest
// rowid comes from a trigger, an INSERT ... SELECT, nested triggers, an
// UPDATE, or a table created in the same request.
func TestLocal_maxRowid_withinStatement(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	setup := []string{
		"CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)",
		"CREATE TRIGGER IF NOT EXISTS tg AFTER INSERT ON t WHEN NEW.v='go' BEGIN INSERT INTO t VALUES(" + maxRowid + ", 'max'); INSERT INTO t(v) VALUES('random'); DELETE FROM t WHERE id=" + maxRowid + "; END",
		"CREATE TABLE IF NOT EXISTS h(v)",
		"CREATE TRIGGER IF NOT EXISTS hd AFTER INSERT ON h WHEN NEW.v='b' BEGIN DELETE FROM h WHERE rowid=" + maxRowid + "; END",
		"CREATE TABLE IF NOT EXISTS a(x)", "CREATE TABLE IF NOT EXISTS b(x)", "CREATE TABLE IF NOT EXISTS c(id INTEGER PRIMARY KEY, x)",
		"CREATE TRIGGER IF NOT EXISTS ab AFTER INSERT ON a BEGIN INSERT INTO b VALUES(NEW.x); END",
		"CREATE TRIGGER IF NOT EXISTS bc AFTER INSERT ON b BEGIN INSERT INTO c VALUES(" + maxRowid + ", 'max'); INSERT INTO c(x) VALUES(NEW.x); DELETE FROM c WHERE id=" + maxRowid + "; END",
		"CREATE TABLE IF NOT EXISTS u(id INTEGER PRIMARY KEY, v)", "INSERT OR REPLACE INTO u VALUES(1, 'one')", "CREATE TABLE IF NOT EXISTS go(x)",
		"CREATE TRIGGER IF NOT EXISTS gu AFTER INSERT ON go BEGIN UPDATE u SET id=" + maxRowid + " WHERE id=1; INSERT INTO u(v) VALUES('random'); DELETE FROM u WHERE id=" + maxRowid + "; END",
	}
	execAgain(t, ctx, c, setup...)
	for _, attack := range [][]string{
		{"INSERT INTO t VALUES(1, 'go')"},
		{"INSERT INTO h(rowid, v) SELECT column1, column2 FROM (VALUES(" + maxRowid + ", 'a'), (NULL, 'b'))"},
		{"INSERT INTO a VALUES('deep')"},
		{"INSERT INTO go VALUES(1)"},
		{"CREATE TABLE n(id INTEGER PRIMARY KEY, v)",
			"CREATE TRIGGER ng AFTER INSERT ON n WHEN NEW.v='go' BEGIN INSERT INTO n VALUES(" + maxRowid + ", 'max'); INSERT INTO n(v) VALUES('random'); DELETE FROM n WHERE id=" + maxRowid + "; END",
			"INSERT INTO n VALUES(1, 'go')"},
	} {
		r := execAgain(t, ctx, c, attack...)
		last := r.Results[len(r.Results)-1]
		if !r.RolledBack || !strings.Contains(last.Error, "largest rowid") {
			t.Errorf("%.60s: rolled back %v, error %q; want the largest rowid refused", attack[len(attack)-1], r.RolledBack, last.Error)
		}
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(7, 'after')"))
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM h) + (SELECT count(*) FROM c) + (SELECT count(*) FROM u)"); n != 2 {
		t.Errorf("%d rows, want 2 (the refused requests rolled back)", n)
	}
}

// leaderAPI returns a function that posts a body to /db/execute of the
// leader's HTTP API (of the current leader's, should leadership move, each
// with limits), again after a 5xx, for requests that are harmless to send
// twice. The servers close at cleanup.
func leaderAPI(t *testing.T, ctx context.Context, c *localcluster.Cluster, limits httpapi.Limits) func(body string) (int, string) {
	servers := map[string]*httptest.Server{}
	t.Cleanup(func() {
		for _, hs := range servers {
			hs.Close()
		}
	})
	return func(body string) (code int, text string) {
		t.Helper()
		for range 5 {
			l, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			hs := servers[l.ID()]
			if hs == nil {
				srv, err := httpapi.New(httpapi.Config{Backend: l.Backend(), Limits: limits})
				if err != nil {
					t.Fatal(err)
				}
				hs = httptest.NewServer(srv)
				servers[l.ID()] = hs
			}
			resp, err := http.Post(hs.URL+"/db/execute", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if code, text = resp.StatusCode, string(b); code < 500 {
				break
			}
			t.Logf("%d %s: sending again", code, text)
		}
		return code, text
	}
}

// TestLocal_applyResultLimits_http: the rows of a SELECT or RETURNING sent
// through /db/execute were collected in full, on every member, during
// apply. The leader's result limits now travel in the log entry: every
// member stops at them (counted: the rows apply kept), the request fails
// alike everywhere with "result too large" and rolls back, and the
// members agree (the same checksum at the same index).
func TestLocal_applyResultLimits_http(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	const rows, limit = 2000, 100
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)"))
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) SELECT value, 'some text' FROM generate_series(1, 2000)"))
	collected := func() map[string]int64 {
		out := map[string]int64{}
		for _, n := range c.Nodes() {
			cluster.LockedDB(n, func(st replica.State[*cluster.SQLDB]) {
				if db := st.DB; st.Open {
					out[n.ID()] = cluster.RowsCollected(db)
				}
			})
		}
		return out
	}
	before := collected()

	post := leaderAPI(t, ctx, c, httpapi.Limits{MaxResultRows: limit})
	for _, sql := range []string{
		"SELECT * FROM t",
		"INSERT INTO t(v) SELECT v FROM t RETURNING id, v",
	} {
		code, body := post(`["` + sql + `"]`)
		var out struct {
			Results []struct {
				Values [][]any `json:"values"`
				Error  string  `json:"error"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || code != http.StatusOK || len(out.Results) != 1 {
			t.Fatalf("%s: %d %.200s (%v)", sql, code, body, err)
		}
		if r := out.Results[0]; !strings.Contains(r.Error, "result too large") || len(r.Values) != 0 {
			t.Errorf("%s: error %q, %d rows; want result too large, no rows", sql, r.Error, len(r.Values))
		}
	}
	// Within the limits: answered in full.
	if code, body := post(`["SELECT id FROM t WHERE id <= 10"]`); code != http.StatusOK || strings.Contains(body, "error") || !strings.Contains(body, "[10]") {
		t.Errorf("within the limits: %d %.200s", code, body)
	}
	mustExec(t, ctx, c, stmt("INSERT OR REPLACE INTO t(id, v) VALUES(1, 'after')"))
	verifyConverged(t, ctx, c)
	if n := sameOnEveryNode(t, ctx, c, "SELECT count(*) FROM t"); n != rows {
		t.Errorf("%d rows, want %d: the RETURNING insert was not rolled back", n, rows)
	}
	after := collected()
	for id, b := range before {
		// Two refused requests (each at most limit rows, sent again at
		// most a few times) and one of 10 rows.
		if kept := after[id] - b; kept > 5*2*limit+10 {
			t.Errorf("%s kept %d rows during apply: not bounded by the limit %d", id, kept, limit)
		} else {
			t.Logf("%s kept %d rows during apply", id, kept)
		}
	}
}
