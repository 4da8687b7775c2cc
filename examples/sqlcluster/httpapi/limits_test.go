package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/stability/connlimit"
	"github.com/holeycow/holeycow/stability/connlimit/connlimittest"
)

// TestServer_resultLimits: a read whose result exceeds Limits fails with
// 400 and a clear error, on /db/query and /db/request (which must not then
// run it through the log); within them it is served whole.
func TestServer_resultLimits(t *testing.T) {
	l := newTestStandalone(t, "n1")
	ts := startServer(t, l, Config{Limits: Limits{MaxResultRows: 10, MaxResultBytes: 10 * 200}})
	ts.mustOK(t, "POST", "/db/execute", `["CREATE TABLE t(x INTEGER, y TEXT)"]`)
	ts.mustOK(t, "POST", "/db/execute", `["WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 11) INSERT INTO t SELECT i, 'v' FROM c"]`)
	idx := l.node.AppliedIndex()
	q := func(sql string) string { return "/db/query?q=" + url.QueryEscape(sql) }
	if body := ts.mustOK(t, "GET", q("SELECT x, y FROM t WHERE x <= 10"), ""); strings.Count(body, `"v"`) != 10 {
		t.Errorf("10 rows: %s", body)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", q("SELECT x FROM t"), ""},
		{"POST", "/db/query", `["SELECT x FROM t"]`},
		{"POST", "/db/request", `["SELECT x FROM t"]`},
		{"POST", "/db/query", `[["SELECT ? FROM t WHERE x < 3", "` + strings.Repeat("a", 1000) + `"]]`},
	} {
		code, body := ts.do(t, tc.method, tc.path, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, "result too large") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
	if got := l.node.AppliedIndex(); got != idx {
		t.Errorf("a refused read went through the log: index %d, was %d", got, idx)
	}
	// Negative limits: no bound.
	ts2 := startServer(t, l, Config{Limits: Limits{MaxResultRows: -1, MaxResultBytes: -1}})
	if body := ts2.mustOK(t, "GET", q("SELECT x FROM t"), ""); !strings.Contains(body, "[11]") {
		t.Errorf("no limits: %s", body)
	}
}

// TestServer_maxStatements: a request with more statements than allowed
// gets 413 before any of them runs.
func TestServer_maxStatements(t *testing.T) {
	l := newTestStandalone(t, "n1")
	ts := startServer(t, l, Config{Limits: Limits{MaxStatements: 3}})
	ts.mustOK(t, "POST", "/db/execute", `["CREATE TABLE t(x)", "INSERT INTO t VALUES(1)", "INSERT INTO t VALUES(2)"]`)
	idx := l.node.AppliedIndex()
	for _, p := range []string{"/db/execute", "/db/query", "/db/request"} {
		code, body := ts.do(t, "POST", p, `["SELECT 1", "SELECT 2", "SELECT 3", "INSERT INTO t VALUES(3)"]`)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more than the 3 allowed") {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	if got := l.node.AppliedIndex(); got != idx {
		t.Errorf("refused request applied: index %d, was %d", got, idx)
	}
}

// slowStandalone is a Standalone whose Execute takes delay first (latency
// injection), giving up with the context.
type slowStandalone struct {
	*Standalone
	delay time.Duration
}

func (s *slowStandalone) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return sqlnode.Response{}, context.Cause(ctx)
	}
	return s.Standalone.Execute(ctx, req)
}

// TestServer_forward_timeoutSaysWhatCommitted: a request of many
// statements without ?transaction, sent to a follower, that cannot finish
// within its timeout is answered 200 with one result per statement, and
// exactly the statements reported as executed committed (issue 16: the
// follower answered 503 although most had committed, and a client retry
// duplicated them). The leader's answer is copied whole even when it
// ends after the forwarding node's deadline (it was cut, and the client
// got an unexpected EOF, under load).
func TestServer_forward_timeoutSaysWhatCommitted(t *testing.T) {
	leader := newTestStandalone(t, "n1")
	ls := startServer(t, &slowStandalone{Standalone: leader, delay: 10 * time.Millisecond}, Config{})
	fs := startServer(t, newFollower(newTestStandalone(t, "n2"), ls.URL), Config{})
	// The leader gets 2.7s (forwardTimeout) and stops early to answer
	// by then; the forwarding node waits for that answer until 3s. On a
	// loaded machine (load average 18 on 2 cores, -race) the answer can
	// start more than those 300ms after the leader's deadline (with a
	// 1.5s timeout and 150ms, a third of the attempts): the forwarding
	// node then answers 504 saying the outcome is unknown, which is
	// right, but checks nothing here. So a bounded number of attempts,
	// each on its own table: every answer is checked, and one of them
	// must be the leader's.
	const attempts = 4
	for a := range attempts {
		if forwardTimeoutAttempt(t, leader, ls, fs, fmt.Sprintf("t%d", a)) {
			return
		}
	}
	t.Fatalf("%d attempts, each answered 504: the leader never answered within the timeout", attempts)
}

// forwardTimeoutAttempt sends fs 600 slow inserts into a new table with a
// 3s timeout and checks the answer. It returns false if the answer was
// the forwarding node's 504 (the leader answered too late).
func forwardTimeoutAttempt(t *testing.T, leader *Standalone, ls, fs *testServer, table string) bool {
	t.Helper()
	ls.mustOK(t, "POST", "/db/execute", `["CREATE TABLE `+table+`(x)"]`)
	const n = 600 // 6s of work for a 3s timeout
	stmts := make([]string, n)
	for i := range stmts {
		stmts[i] = fmt.Sprintf(`"INSERT INTO %s VALUES(%d)"`, table, i)
	}
	start := time.Now()
	code, body := fs.do(t, "POST", "/db/execute?timeout=3s", "["+strings.Join(stmts, ",")+"]")
	took := time.Since(start)
	if code == http.StatusGatewayTimeout {
		if !strings.Contains(body, "writes may have committed") {
			t.Fatalf("504 without saying writes may have committed: %s", body)
		}
		t.Logf("answered 504 in %v (the leader's answer came too late): %s", took, body)
		return false
	}
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var resp struct {
		Results []struct {
			RowsAffected int64  `json:"rows_affected"`
			Error        string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != n {
		t.Fatalf("%d results for %d statements", len(resp.Results), n)
	}
	// Executed ones, then at most one whose outcome is unknown (a
	// statement slower than the estimate, on a loaded machine), then
	// those not executed.
	executed, unknown, notExecuted := 0, 0, 0
	for i, r := range resp.Results {
		switch {
		case r.Error == "" && r.RowsAffected == 1 && unknown+notExecuted == 0:
			executed++
		case strings.Contains(r.Error, "outcome unknown") && unknown+notExecuted == 0:
			unknown++
		case strings.Contains(r.Error, "not executed"):
			notExecuted++
		default:
			t.Fatalf("statement %d out of order: %+v", i, r)
		}
	}
	rs, err := leader.node.Query(context.Background(), []sqlnode.Statement{{SQL: "SELECT count(*) FROM " + table}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Values[0][0].(int64); got < int64(executed) || got > int64(executed+unknown) || executed == 0 || notExecuted == 0 {
		t.Fatalf("%d rows committed; %d statements reported executed, %d unknown, %d not (in %v)", got, executed, unknown, notExecuted, took)
	}
	t.Logf("%d executed, %d unknown, %d not executed, answered in %v", executed, unknown, notExecuted, took)
	return true
}

// TestServer_unauthorizedClosesConnection: a request that fails to
// authenticate does not keep its connection (issue 16: keep-alive
// connections stayed open after 401s).
func TestServer_unauthorizedClosesConnection(t *testing.T) {
	creds, err := LoadCredentials(strings.NewReader(`[{"username": "u", "password": "p", "perms": ["all"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, newTestStandalone(t, "n1"), Config{Credentials: creds})
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 0, 4096)
	for { // read to EOF: the server closes after the 401
		buf := make([]byte, 1024)
		k, err := c.Read(buf)
		b = append(b, buf[:k]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection kept open after: %s", b)
			}
			break
		}
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 401") {
		t.Fatalf("response: %s", b)
	}
}

// TestApplyConnLimits_flood: with more idle connections than the cap
// (some that never send a request, some idle after one), the server stays
// responsive, never holds more than the cap, and closes idle connections
// after the idle and header timeouts.
func TestApplyConnLimits_flood(t *testing.T) {
	api, err := New(Config{Backend: newTestStandalone(t, "n1")})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const maxConns, flood = 16, 64
	hs := &http.Server{Handler: api}
	ln := ApplyConnLimits(hs, raw, ConnLimits{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxConns: maxConns})
	cl := ln.(*connlimit.Listener)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	base := "http://" + raw.Addr().String()

	// The server answers a new client at once, flood or not; every flood
	// connection ends closed by the server: evicted, or timed out (header
	// or idle timeout, 300ms).
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	connlimittest.Flood(t, raw.Addr().String(), flood, true, 5*time.Second, func() {
		for range 5 {
			resp, err := client.Get(base + "/readyz")
			if err != nil {
				t.Fatalf("during the flood: %v (stats %+v)", err, cl.Stats())
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("during the flood: %s", resp.Status)
			}
		}
		if st := cl.Stats(); st.Open > maxConns || st.Evicted == 0 {
			t.Fatalf("stats during the flood: %+v", st)
		}
	})
	// The server closed them all: their places are free (but for the
	// last request's connection, which it may be closing).
	if st := cl.Stats(); st.Open > 1 {
		t.Errorf("open connections after the flood: %+v", st)
	}
}

// TestServer_forward_leaderSilent: a leader that does not answer within
// the timeout makes the forwarding node answer 504, saying that writes may
// have committed, rather than 503 "forwarding failed" (which invites a
// blind retry); the leader was told to take less time than that.
func TestServer_forward_leaderSilent(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(TimeoutHeader)
		<-release
	}))
	defer leader.Close()
	defer close(release)
	fs := startServer(t, newFollower(newTestStandalone(t, "n2"), leader.URL), Config{})
	code, body := fs.do(t, "POST", "/db/execute?timeout=300ms", `["INSERT INTO t VALUES(1)"]`)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "may have committed") {
		t.Fatalf("%d %s", code, body)
	}
	d, err := time.ParseDuration(<-got)
	if err != nil || d <= 0 || d >= 300*time.Millisecond {
		t.Errorf("%s to the leader: %v, %v", TimeoutHeader, d, err)
	}
}
