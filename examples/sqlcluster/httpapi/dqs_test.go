package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHTTP_doubleQuotedStrings: statements that rqlite's tools send with
// double-quoted strings work through /db/execute, /db/query and
// /db/request.
func TestHTTP_doubleQuotedStrings(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	ts.mustOK(t, http.MethodPost, "/db/execute?transaction", `["CREATE TABLE t(name TEXT)", "INSERT INTO t VALUES(\"x\")"]`)
	got := ts.mustOK(t, http.MethodGet, "/db/query?q="+url.QueryEscape(`SELECT name FROM sqlite_master WHERE type="table" AND name="t"`), "")
	if !strings.Contains(got, `"values":[["t"]]`) {
		t.Errorf("sqlite_master by type=\"table\": %s", got)
	}
	got = ts.mustOK(t, http.MethodPost, "/db/request", `["SELECT name FROM t WHERE name = \"x\""]`)
	if !strings.Contains(got, `"values":[["x"]]`) {
		t.Errorf("select by a double-quoted string: %s", got)
	}
	if strings.Contains(got, `"error"`) {
		t.Errorf("unexpected error: %s", got)
	}
}
