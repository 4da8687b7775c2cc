package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// match compares a JSON response with a fixture written from rqlite's
// documentation. In the fixture, the string "<time>" stands for any
// positive number (timings vary) and a string "~text" for any string
// containing text (SQLite's error messages carry the driver's prefix).
func match(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("fixture is not JSON: %v\n%s", err, want)
	}
	if path, ok := matchValue(g, w, "$"); !ok {
		t.Errorf("response differs from the fixture at %s\n got: %s\nwant: %s", path, got, want)
	}
}

func matchValue(g, w any, path string) (string, bool) {
	switch wv := w.(type) {
	case string:
		if wv == "<time>" {
			f, ok := g.(float64)
			return path, ok && f > 0
		}
		if rest, ok := strings.CutPrefix(wv, "~"); ok {
			s, ok := g.(string)
			return path, ok && strings.Contains(s, rest)
		}
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok || len(gv) != len(wv) {
			return path, false
		}
		for k, x := range wv {
			y, ok := gv[k]
			if !ok {
				return path + "." + k, false
			}
			if p, ok := matchValue(y, x, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			return path, false
		}
		for i := range wv {
			if p, ok := matchValue(gv[i], wv[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(g, w)
}

const createFoo = `["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"]`

// The fixtures below follow rqlite's API documentation
// (rqlite.io/docs/api/api/): the examples there, with the same tables.

func TestServer_execute_rqliteShapes(t *testing.T) {
	ts, l := newStandaloneServer(t)
	// rqlite answers {"results": [{"time": ...}]} for DDL: no rows
	// affected.
	match(t, ts.mustOK(t, "POST", "/db/execute?pretty&timings", createFoo),
		`{"results": [{"time": "<time>"}], "time": "<time>"}`)
	match(t, ts.mustOK(t, "POST", "/db/execute", `["INSERT INTO foo(name, age) VALUES('fiona', 20)"]`),
		`{"results": [{"last_insert_id": 1, "rows_affected": 1}]}`)
	// Parameterized, positional and named.
	match(t, ts.mustOK(t, "POST", "/db/execute", `[
		["INSERT INTO foo(name, age) VALUES(?, ?)", "declan", 25],
		["INSERT INTO foo(name, age) VALUES(:name, :age)", {"name": "aoife", "age": 30}]
	]`), `{"results": [{"last_insert_id": 2, "rows_affected": 1}, {"last_insert_id": 3, "rows_affected": 1}]}`)
	// An SQL error is a result, with status 200.
	match(t, ts.mustOK(t, "POST", "/db/execute?timings", `["nonsense"]`),
		`{"results": [{"error": "~near \"nonsense\": syntax error", "time": "<time>"}], "time": "<time>"}`)
	// raft_index reports the log index; queue a sequence number.
	idx := l.node.AppliedIndex()
	match(t, ts.mustOK(t, "POST", "/db/execute?raft_index", `["UPDATE foo SET age = age + 1 WHERE id = 1"]`),
		fmt.Sprintf(`{"results": [{"rows_affected": 1}], "raft_index": %d}`, idx+1))
	got := ts.mustOK(t, "POST", "/db/execute?queue&wait", `["UPDATE foo SET age = age - 1 WHERE id = 1"]`)
	var q struct {
		SequenceNumber uint64 `json:"sequence_number"`
	}
	if err := json.Unmarshal([]byte(got), &q); err != nil || q.SequenceNumber == 0 {
		t.Fatalf("queue&wait: %s", got)
	}
	match(t, got, fmt.Sprintf(`{"results": [{"rows_affected": 1}], "sequence_number": %d}`, q.SequenceNumber))
}

func TestServer_query_rqliteShapes(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute?transaction", `[
		"CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)",
		"INSERT INTO foo(name, age) VALUES('fiona', 20)",
		"INSERT INTO foo(name, age) VALUES('declan', 25)"
	]`)
	match(t, ts.mustOK(t, "GET", "/db/query?pretty&timings&q="+url.QueryEscape("SELECT * FROM foo"), ""), `{
		"results": [{
			"columns": ["id", "name", "age"],
			"types": ["integer", "text", "integer"],
			"values": [[1, "fiona", 20], [2, "declan", 25]],
			"time": "<time>"
		}],
		"time": "<time>"
	}`)
	for _, level := range []string{"none", "weak", "linearizable", "strong"} {
		match(t, ts.mustOK(t, "POST", "/db/query?level="+level, `[["SELECT * FROM foo WHERE name = ?", "fiona"], ["SELECT name FROM foo WHERE age > :a", {"a": 21}]]`), `{
			"results": [
				{"columns": ["id", "name", "age"], "types": ["integer", "text", "integer"], "values": [[1, "fiona", 20]]},
				{"columns": ["name"], "types": ["text"], "values": [["declan"]]}
			]
		}`)
	}
	match(t, ts.mustOK(t, "GET", "/db/query?associative&timings&q="+url.QueryEscape("SELECT * FROM foo"), ""), `{
		"results": [{
			"types": {"id": "integer", "age": "integer", "name": "text"},
			"rows": [{"id": 1, "age": 20, "name": "fiona"}, {"id": 2, "age": 25, "name": "declan"}],
			"time": "<time>"
		}],
		"time": "<time>"
	}`)
	// No rows: columns and types, no values (rqlite omits them).
	match(t, ts.mustOK(t, "GET", "/db/query?q="+url.QueryEscape("SELECT name FROM foo WHERE id > 9"), ""),
		`{"results": [{"columns": ["name"], "types": ["text"]}]}`)
	// Blobs as base64, infinities as strings, NULL as null, expressions
	// with an empty type.
	match(t, ts.mustOK(t, "GET", "/db/query?q="+url.QueryEscape("SELECT x'0102ff', 1e999, -1e999, NULL, 2.5"), ""),
		`{"results": [{"columns": ["x'0102ff'", "1e999", "-1e999", "NULL", "2.5"], "types": ["", "", "", "", ""],
		  "values": [["AQL/", "Inf", "-Inf", null, 2.5]]}]}`)
	// A write sent as a query fails as a result.
	match(t, ts.mustOK(t, "POST", "/db/query", `["INSERT INTO foo(name) VALUES('x')"]`),
		`{"results": [{"error": "~read-only"}]}`)
	match(t, ts.mustOK(t, "GET", "/db/query?q="+url.QueryEscape("SELECT * FROM nosuch"), ""),
		`{"results": [{"error": "~no such table: nosuch"}]}`)
}

func TestServer_execute_transaction(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute", `["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"]`)
	batch := `["INSERT INTO t(v) VALUES('a')", "INSERT INTO t(v) VALUES(NULL)", "INSERT INTO t(v) VALUES('c')"]`

	// With ?transaction: stop at the failure, roll everything back.
	match(t, ts.mustOK(t, "POST", "/db/execute?transaction", batch),
		`{"results": [{"last_insert_id": 1, "rows_affected": 1}, {"error": "~NOT NULL constraint failed: t.v"}]}`)
	match(t, ts.mustOK(t, "GET", "/db/query?q="+url.QueryEscape("SELECT count(*) AS n FROM t"), ""),
		`{"results": [{"columns": ["n"], "types": [""], "values": [[0]]}]}`)

	// Without: each statement stands alone, as in rqlite.
	match(t, ts.mustOK(t, "POST", "/db/execute", batch),
		`{"results": [{"last_insert_id": 1, "rows_affected": 1}, {"error": "~NOT NULL constraint failed: t.v"}, {"last_insert_id": 2, "rows_affected": 1}]}`)
	match(t, ts.mustOK(t, "GET", "/db/query?q="+url.QueryEscape("SELECT v FROM t ORDER BY id"), ""),
		`{"results": [{"columns": ["v"], "types": ["text"], "values": [["a"], ["c"]]}]}`)
}

func TestServer_request_mixed(t *testing.T) {
	ts, l := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	before := l.node.AppliedIndex()
	match(t, ts.mustOK(t, "POST", "/db/request?transaction", `[
		["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20],
		"SELECT name, age FROM foo"
	]`), `{"results": [
		{"last_insert_id": 1, "rows_affected": 1},
		{"columns": ["name", "age"], "types": ["text", "integer"], "values": [["fiona", 20]]}
	]}`)
	if got := l.node.AppliedIndex(); got != before+1 {
		t.Errorf("a mixed request applied %d entries, want 1", got-before)
	}
	// Reads only: served as a read, no log entry.
	match(t, ts.mustOK(t, "POST", "/db/request?associative&level=none", `["SELECT name FROM foo", "SELECT count(*) AS n FROM foo"]`),
		`{"results": [{"types": {"name": "text"}, "rows": [{"name": "fiona"}]}, {"types": {"n": ""}, "rows": [{"n": 1}]}]}`)
	if got := l.node.AppliedIndex(); got != before+1 {
		t.Errorf("a read-only request went through the log")
	}
	// A failing read before a write does not hide the write.
	match(t, ts.mustOK(t, "POST", "/db/request", `["SELECT * FROM nosuch", "INSERT INTO foo(name, age) VALUES('declan', 25)"]`),
		`{"results": [{"error": "~no such table: nosuch"}, {"last_insert_id": 2, "rows_affected": 1}]}`)
}

func TestServer_ServeHTTP_pretty(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	plain := ts.mustOK(t, "GET", "/db/query?q=SELECT+1+AS+one", "")
	pretty := ts.mustOK(t, "GET", "/db/query?pretty&q=SELECT+1+AS+one", "")
	if strings.Contains(plain, "\n    ") || !strings.Contains(pretty, "\n    ") {
		t.Errorf("pretty output not indented (or plain indented):\n%s\n%s", plain, pretty)
	}
	match(t, pretty, plain)
	if strings.Contains(plain, `"time"`) {
		t.Errorf("time without ?timings: %s", plain)
	}
}

func TestServer_status_nodes_ready(t *testing.T) {
	ts, l := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	// Decoded independently of statusJSON, so a wrong tag there fails.
	var st map[string]any
	if err := json.Unmarshal([]byte(ts.mustOK(t, "GET", "/status?pretty", "")), &st); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) any {
		var v any = st
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"store", "node_id"}, "node1"},
		{[]string{"store", "leader", "node_id"}, "node1"},
		{[]string{"store", "raft", "state"}, "Leader"},
		{[]string{"store", "raft", "applied_index"}, float64(l.node.AppliedIndex())},
		{[]string{"http", "auth"}, "disabled"},
	} {
		if got := at(c.path...); got != c.want {
			t.Errorf("status %v = %v, want %v", c.path, got, c.want)
		}
	}
	match(t, ts.mustOK(t, "GET", "/nodes", ""), fmt.Sprintf(`{"node1": {"id": "node1", "api_addr": %q, "addr": "", "voter": true, "reachable": true, "leader": true}}`, ts.URL))
	match(t, ts.mustOK(t, "GET", "/nodes?ver=2", ""), fmt.Sprintf(`{"nodes": [{"id": "node1", "api_addr": %q, "addr": "", "voter": true, "reachable": true, "leader": true}]}`, ts.URL))
	if got := ts.mustOK(t, "GET", "/readyz", ""); !strings.Contains(got, "[+]leader ok") {
		t.Errorf("readyz: %q", got)
	}
	if code, body := ts.do(t, "POST", "/join", `{"id": "node2", "addr": "127.0.0.1:1"}`); code != http.StatusNotImplemented {
		t.Errorf("join on a Standalone: %d %s", code, body)
	}
}

func TestServer_metrics_counts(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	ts.mustOK(t, "POST", "/db/execute", `["INSERT INTO foo(name) VALUES('a')"]`)
	ts.do(t, "POST", "/db/query?level=bogus", `["SELECT 1"]`)
	out := ts.mustOK(t, "GET", "/metrics", "")
	for _, want := range []string{
		`holeycow_http_requests_total{code="200",endpoint="/db/execute",method="POST"} 2`,
		`holeycow_http_requests_total{code="400",endpoint="/db/query",method="POST"} 1`,
		`holeycow_http_request_duration_seconds_count{endpoint="/db/execute"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A second Server on the same Registry cannot register twice.
	if _, err := New(Config{Backend: ts.api.cfg.Backend, Registry: ts.api.Registry()}); err == nil {
		t.Error("two Servers registered the same metrics on one Registry")
	}
}

func TestServer_backendErrors_status(t *testing.T) {
	ts, l := newStandaloneServer(t)
	if err := l.node.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/db/query", "/db/execute", "/db/request"} {
		code, body := ts.do(t, "POST", p, `["SELECT 1"]`)
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s on a closed node: %d %s", p, code, body)
		}
	}
	if code, _ := ts.do(t, "GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("readyz on a closed node: %d", code)
	}
}

func TestServer_query_timeout(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	q := url.QueryEscape("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
	code, body := ts.do(t, "GET", "/db/query?timeout=50ms&q="+q, "")
	if code != http.StatusGatewayTimeout {
		t.Fatalf("endless query with ?timeout: %d %s", code, body)
	}
	errorOf(t, body)
}

// TestServer_execute_concurrent: concurrent writers each get their own
// log index, and every write is applied once.
func TestServer_execute_concurrent(t *testing.T) {
	ts, l := newStandaloneServer(t)
	ts.mustOK(t, "POST", "/db/execute", `["CREATE TABLE t (id INTEGER PRIMARY KEY, w INTEGER)"]`)
	const writers, each = 4, 10
	idx := make(chan uint64, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for range each {
				resp, err := ts.Client().Post(ts.URL+"/db/execute?raft_index", "application/json",
					strings.NewReader(fmt.Sprintf(`[["INSERT INTO t(w) VALUES(?)", %d]]`, w)))
				if err != nil {
					errs <- err
					return
				}
				var out struct {
					RaftIndex uint64 `json:"raft_index"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d, %v", resp.StatusCode, err)
					return
				}
				idx <- out.RaftIndex
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(idx)
	seen := map[uint64]bool{}
	for i := range idx {
		if seen[i] {
			t.Errorf("index %d handed out twice", i)
		}
		seen[i] = true
	}
	match(t, ts.mustOK(t, "GET", "/db/query?q=SELECT+count(*)+AS+n+FROM+t", ""),
		fmt.Sprintf(`{"results": [{"columns": ["n"], "types": [""], "values": [[%d]]}]}`, writers*each))
	if got := l.node.AppliedIndex(); got != 1+writers*each || len(seen) != writers*each {
		t.Errorf("applied %d, %d distinct indexes", got, len(seen))
	}
}
