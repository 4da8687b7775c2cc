package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/rqlite/gorqlite"
)

// follower is a Backend that is not the leader, as a replicated node's
// follower answers: level-none reads from its own database, everything
// else a *NotLeaderError naming leader.
type follower struct {
	*Standalone
	leader   atomic.Pointer[string]
	executes atomic.Int64
}

func newFollower(l *Standalone, leader string) *follower {
	f := &follower{Standalone: l}
	f.leader.Store(&leader)
	return f
}

func (f *follower) notLeader() error { return &NotLeaderError{LeaderHTTP: *f.leader.Load()} }

func (f *follower) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	f.executes.Add(1)
	return sqlnode.Response{}, f.notLeader()
}

func (f *follower) Query(ctx context.Context, level Level, stmts []sqlnode.Statement) ([]sqlnode.Result, error) {
	if level == LevelNone {
		return f.Standalone.Query(ctx, level, stmts)
	}
	return nil, f.notLeader()
}

func (f *follower) Join(ctx context.Context, req JoinRequest) error { return f.notLeader() }
func (f *follower) Remove(ctx context.Context, id string) error     { return f.notLeader() }

func errorOf(t testing.TB, body string) errorBody {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" {
		t.Fatalf("not a JSON error: %s", body)
	}
	return eb
}

// TestServer_forward_toLeader: writes and non-local reads sent to a
// follower land on the leader's backend.
func TestServer_forward_toLeader(t *testing.T) {
	ls, leader := newStandaloneServer(t)
	fb := newFollower(newTestStandalone(t, "node2"), ls.URL)
	fs := startServer(t, fb, Config{})

	match(t, fs.mustOK(t, "POST", "/db/execute?transaction", `[`+strings.Trim(createFoo, "[]")+`, ["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20]]`),
		`{"results": [{}, {"last_insert_id": 1, "rows_affected": 1}]}`)
	rs, err := leader.node.Query(context.Background(), []sqlnode.Statement{{SQL: "SELECT name FROM foo"}})
	if err != nil || len(rs) != 1 || len(rs[0].Values) != 1 || rs[0].Values[0][0] != "fiona" {
		t.Fatalf("the write did not land on the leader: %+v, %v", rs, err)
	}
	// Weak reads go to the leader; none reads stay here (no table here).
	match(t, fs.mustOK(t, "GET", "/db/query?q=SELECT+name+FROM+foo", ""),
		`{"results": [{"columns": ["name"], "types": ["text"], "values": [["fiona"]]}]}`)
	match(t, fs.mustOK(t, "GET", "/db/query?level=none&q=SELECT+name+FROM+foo", ""),
		`{"results": [{"error": "~no such table: foo"}]}`)
	match(t, fs.mustOK(t, "POST", "/db/request", `["INSERT INTO foo(name, age) VALUES('declan', 25)", "SELECT count(*) AS n FROM foo"]`),
		`{"results": [{"last_insert_id": 2, "rows_affected": 1}, {"columns": ["n"], "types": [""], "values": [[2]]}]}`)
	// Cluster operations too: the leader's Standalone cannot join (501).
	if code, body := fs.do(t, "POST", "/join", `{"id": "n3", "addr": "127.0.0.1:1"}`); code != http.StatusNotImplemented {
		t.Errorf("join via the follower: %d %s", code, body)
	}
	if !strings.Contains(fs.mustOK(t, "GET", "/metrics", ""), `holeycow_http_forwarded_total{endpoint="/db/execute"} 1`) {
		t.Error("forwarded_total not counted")
	}

	// gorqlite pointed at the follower only, without discovery.
	conn, err := gorqlite.OpenWithClient(fs.URL+"?disableClusterDiscovery=true", fs.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if wr, err := conn.WriteOne("INSERT INTO foo(name, age) VALUES('aoife', 30)"); err != nil || wr.LastInsertID != 3 {
		t.Fatalf("gorqlite via the follower: %+v, %v", wr, err)
	}
	// Entries: the transaction, the request's two statements (without
	// ?transaction each is its own entry), gorqlite's write.
	if got := leader.node.AppliedIndex(); got != 4 {
		t.Errorf("leader applied %d entries, want 4", got)
	}
}

func TestServer_forward_redirect(t *testing.T) {
	ls, _ := newStandaloneServer(t)
	fs := startServer(t, newFollower(newTestStandalone(t, "node2"), ls.URL+"/"), Config{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(fs.URL+"/db/execute?redirect&timings", "application/json", strings.NewReader(createFoo))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != ls.URL+"/db/execute?redirect&timings" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestServer_forward_refused: no loop between two nodes that each name
// the other; unknown, invalid and unreachable leaders; forwarding off.
func TestServer_forward_refused(t *testing.T) {
	fa := newFollower(newTestStandalone(t, "a"), "")
	fb := newFollower(newTestStandalone(t, "b"), "")
	sa := startServer(t, fa, Config{})
	sb := startServer(t, fb, Config{})
	fa.leader.Store(&sb.URL)
	fb.leader.Store(&sa.URL)
	code, body := sa.do(t, "POST", "/db/execute", createFoo)
	if code != http.StatusServiceUnavailable || errorOf(t, body).Leader != sa.URL {
		t.Errorf("two nodes naming each other: %d %s", code, body)
	}
	if fa.executes.Load() != 1 || fb.executes.Load() != 1 {
		t.Errorf("executes: a %d, b %d; want 1 and 1", fa.executes.Load(), fb.executes.Load())
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, leader := range []string{"", "ftp://x", "not a url", "http://", down.URL} {
		f := newFollower(newTestStandalone(t, "c"), leader)
		s := startServer(t, f, Config{})
		code, body := s.do(t, "POST", "/db/execute", createFoo)
		if code != http.StatusServiceUnavailable {
			t.Errorf("leader %q: %d %s", leader, code, body)
		}
		errorOf(t, body)
	}

	ls, _ := newStandaloneServer(t)
	s := startServer(t, newFollower(newTestStandalone(t, "d"), ls.URL), Config{DisableForwarding: true})
	code, body = s.do(t, "POST", "/db/execute", createFoo)
	if code != http.StatusServiceUnavailable || errorOf(t, body).Leader != ls.URL {
		t.Errorf("DisableForwarding: %d %s", code, body)
	}
}
