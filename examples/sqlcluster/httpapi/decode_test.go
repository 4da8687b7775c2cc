package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

func TestDecodeStatements_valid(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []sqlnode.Statement
	}{
		{`["SELECT 1"]`, []sqlnode.Statement{{SQL: "SELECT 1"}}},
		{` [ "a" , "b" ] `, []sqlnode.Statement{{SQL: "a"}, {SQL: "b"}}},
		{`[["INSERT INTO t VALUES(?, ?, ?, ?, ?, ?)", 1, -2.5, "x", null, true, false]]`, []sqlnode.Statement{{
			SQL: "INSERT INTO t VALUES(?, ?, ?, ?, ?, ?)",
			Params: []sqlnode.Param{{Value: int64(1)}, {Value: -2.5}, {Value: "x"}, {Value: nil},
				{Value: int64(1)}, {Value: int64(0)}},
		}}},
		{`[["INSERT INTO t VALUES(:b, :a)", {"b": 2, "a": "z"}]]`, []sqlnode.Statement{{
			SQL: "INSERT INTO t VALUES(:b, :a)", Params: []sqlnode.Param{{Name: "a", Value: "z"}, {Name: "b", Value: int64(2)}},
		}}},
		{`[["SELECT ?", 9223372036854775807]]`, []sqlnode.Statement{{SQL: "SELECT ?", Params: []sqlnode.Param{{Value: int64(math.MaxInt64)}}}}},
		{`[["SELECT ?", -9223372036854775808]]`, []sqlnode.Statement{{SQL: "SELECT ?", Params: []sqlnode.Param{{Value: int64(math.MinInt64)}}}}},
		{`[["SELECT ?", 9223372036854775808.0]]`, []sqlnode.Statement{{SQL: "SELECT ?", Params: []sqlnode.Param{{Value: 9223372036854775808.0}}}}},
		{`[["SELECT ?", 1e19]]`, []sqlnode.Statement{{SQL: "SELECT ?", Params: []sqlnode.Param{{Value: 1e19}}}}},
		{`[["SELECT ?", 1e3]]`, []sqlnode.Statement{{SQL: "SELECT ?", Params: []sqlnode.Param{{Value: 1000.0}}}}},
		{`[["SELECT 1"]]`, []sqlnode.Statement{{SQL: "SELECT 1"}}},
		{`[["SELECT :a", {}]]`, []sqlnode.Statement{{SQL: "SELECT :a"}}},
		{`["\ud83d\ude00 \ufffd \\ud800", ["SELECT ?", "é\u00e9\uFFFD"]]`, []sqlnode.Statement{
			{SQL: "\U0001F600 \ufffd \\ud800"}, {SQL: "SELECT ?", Params: []sqlnode.Param{{Value: "éé\ufffd"}}}}},
	} {
		got, err := DecodeStatements([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.body, got, tc.want)
		}
	}
}

// badBodies are bodies that DecodeStatements and every /db endpoint must
// refuse with 400.
var badBodies = []string{
	``, ` `, `null`, `{}`, `{"statements": ["SELECT 1"]}`, `"SELECT 1"`, `1`, `true`,
	`[]`, `[`, `["SELECT 1"`, `["SELECT 1"] x`, `["SELECT 1"][]`, `["SELECT 1",]`,
	`[1]`, `[null]`, `[true]`, `[{}]`, `[{"sql": "SELECT 1"}]`,
	`[[]]`, `[[1]]`, `[[null]]`, `[["SELECT 1"], 2]`, `[[["SELECT 1"]]]`,
	`[["SELECT ?", [1, 2]]]`, `[["SELECT ?", {"a": 1}, 2]]`, `[["SELECT ?", 1, {"a": 1}]]`,
	`[["SELECT :a", {"a": [1]}]]`, `[["SELECT :a", {"a": {"b": 1}}]]`, `[["SELECT :a", {"": 1}]]`,
	`[["SELECT ?", 1e999]]`, `[["SELECT ?", -1e400]]`, `[["SELECT ?", 01]]`, `[["SELECT ?", NaN]]`,
	`["SELECT 1"` + strings.Repeat(" ", 10) + `}`, "[\"SELECT \x00\xff\"]x",
	// Values that would be stored changed (issue 16): an integer beyond
	// int64 (it became a float) and text that is not UTF-8 (it became
	// U+FFFD), in the SQL, a parameter or a parameter's name.
	`[["SELECT ?", 9223372036854775808]]`, `[["SELECT ?", -9223372036854775809]]`,
	`[["SELECT :a", {"a": 18446744073709551616}]]`,
	"[[\"SELECT ?\", \"a\xffb\"]]", "[\"SELECT '\xc3'\"]", "[[\"SELECT :a\", {\"\xfe\": 1}]]",
	`[["SELECT ?", "\ud800"]]`, `["SELECT '\udc00'"]`, `[["SELECT ?", "\ud800x"]]`, `[["SELECT ?", "\ud800\u0041"]]`,
	`[["SELECT :a", {"\udfff": 1}]]`,
}

func TestDecodeStatements_invalid(t *testing.T) {
	for _, body := range badBodies {
		st, err := DecodeStatements([]byte(body))
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: got %v, %v; want an error wrapping ErrBadRequest", body, st, err)
		}
	}
}

func TestParseLevel_all(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
	}{{"", LevelWeak}, {"none", LevelNone}, {"weak", LevelWeak}, {"linearizable", LevelLinearizable}, {"strong", LevelStrong}, {"auto", LevelAuto}} {
		l, err := ParseLevel(tc.in)
		if err != nil || l != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v", tc.in, l, err)
		}
		if tc.in != "" && l.String() != tc.in {
			t.Errorf("%v.String() = %q", l, l.String())
		}
	}
	for _, bad := range []string{"NONE", "Strong", "Auto", "x", " weak"} {
		if _, err := ParseLevel(bad); !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseLevel(%q): %v", bad, err)
		}
	}
}

func TestParseOptions_flags(t *testing.T) {
	q, _ := url.ParseQuery("timings&level=strong&transaction&pretty=false&associative=1&timeout=2s&queue=true")
	o, err := parseOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	if !o.timings || !o.transaction || o.pretty || !o.associative || !o.queue || o.level != LevelStrong || o.timeout.Seconds() != 2 {
		t.Errorf("%+v", o)
	}
	for _, bad := range []string{"timings=maybe", "level=bogus", "timeout=5", "timeout=-1s", "transaction=2", "pretty=yes"} {
		q, _ := url.ParseQuery(bad)
		if _, err := parseOptions(q); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestServer_ServeHTTP_badRequests sends malformed requests to every
// endpoint: each gets a 4xx with a JSON error body, never a 5xx.
func TestServer_ServeHTTP_badRequests(t *testing.T) {
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{MaxBodyBytes: 1 << 10})
	type req struct {
		method, path, body string
		want               int
	}
	var reqs []req
	for _, p := range []string{"/db/execute", "/db/query", "/db/request"} {
		for _, b := range badBodies {
			reqs = append(reqs, req{"POST", p, b, 400})
		}
		reqs = append(reqs,
			req{"POST", p, `["` + strings.Repeat("x", 2<<10) + `"]`, 413},
			req{"POST", p + "?level=bogus", `["SELECT 1"]`, 400},
			req{"POST", p + "?timings=maybe", `["SELECT 1"]`, 400},
			req{"POST", p + "?timeout=soon", `["SELECT 1"]`, 400},
			req{"PUT", p, `["SELECT 1"]`, 405},
		)
	}
	reqs = append(reqs,
		req{"GET", "/db/query", "", 400},
		req{"GET", "/db/query?q=", "", 400},
		req{"GET", "/db/query?q=SELECT+1&q=SELECT+2", "", 400},
		req{"GET", "/db/query?q=SELECT+1&level=eventual", "", 400},
		req{"GET", "/db/execute?q=SELECT+1", "", 405},
		req{"POST", "/db/execute", `["SELECT random() FROM t", ["BEGIN"]]`, 400}, // rejected by Prepare
		req{"POST", "/db/execute?transaction", `["SELECT 1", ["BEGIN"]]`, 400},
		req{"POST", "/db/request", `["CREATE TABLE x(a)", "SELECT datetime('now', 'localtime')"]`, 400},
		req{"GET", "/nodes?ver=7", "", 400},
		req{"POST", "/status", "", 405},
		req{"GET", "/nosuch", "", 404},
		req{"GET", "/db", "", 404},
		req{"POST", "/join", ``, 400},
		req{"POST", "/join", `[]`, 400},
		req{"POST", "/join", `{"id": 1}`, 400},
		req{"POST", "/join", `{"id": "n2"}`, 400},
		req{"POST", "/join", `{"id": "n2", "addr": "x", "voter": "yes"}`, 400},
		req{"POST", "/join", `{"id": "n2", "addr": "x"`, 400},
		req{"POST", "/join", `{"id": "n2", "addr": "` + strings.Repeat("x", 2<<10) + `"}`, 413},
		req{"DELETE", "/remove", `{}`, 400},
		req{"DELETE", "/remove", `{"id": ""}`, 400},
		req{"DELETE", "/remove", `"n2"`, 400},
		req{"DELETE", "/remove", `{"id": "n2"}`, 404},
		req{"GET", "/remove", ``, 405},
	)
	for _, r := range reqs {
		code, body := ts.do(t, r.method, r.path, r.body)
		if code != r.want {
			t.Errorf("%s %s %.60q: status %d, want %d; body %s", r.method, r.path, r.body, code, r.want, body)
		}
		var eb struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == nil || *eb.Error == "" {
			t.Errorf("%s %s %.60q: body is not a JSON error: %s", r.method, r.path, r.body, body)
		}
	}
}

// encodeStatements is the inverse of DecodeStatements, for the fuzz test.
func encodeStatements(stmts []sqlnode.Statement) []byte {
	out := make([]any, len(stmts))
	for i, st := range stmts {
		if len(st.Params) == 0 {
			out[i] = []any{st.SQL}
			continue
		}
		if st.Params[0].Name != "" {
			named := map[string]any{}
			for _, p := range st.Params {
				named[p.Name] = floatJSON(p.Value)
			}
			out[i] = []any{st.SQL, named}
			continue
		}
		a := []any{st.SQL}
		for _, p := range st.Params {
			a = append(a, floatJSON(p.Value))
		}
		out[i] = a
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzDecodeStatements checks that DecodeStatements never panics, that
// what it accepts is encodable as a log command (sqlnode.EncodeRequest),
// and that it decodes its own re-encoding to the same statements.
func FuzzDecodeStatements(f *testing.F) {
	for _, b := range badBodies {
		f.Add([]byte(b))
	}
	for _, b := range []string{`["SELECT 1"]`, `[["INSERT INTO t VALUES(?, ?)", 1, "a"]]`,
		`[["INSERT INTO t VALUES(:a)", {"a": 1.5}]]`, `["a", ["b", null, true]]`, `[["x", 18446744073709551616]]`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		stmts, err := DecodeStatements(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error does not wrap ErrBadRequest: %v", err)
			}
			return
		}
		if len(stmts) == 0 {
			t.Fatal("no error and no statements")
		}
		if _, err := sqlnode.EncodeRequest(sqlnode.Request{Statements: stmts}); err != nil && !errors.Is(err, sqlnode.ErrTooLarge) {
			t.Fatalf("decoded statements do not encode: %v", err)
		}
		again, err := DecodeStatements(encodeStatements(stmts))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(normParams(again), normParams(stmts)) {
			t.Fatalf("round trip differs:\n%#v\n%#v", stmts, again)
		}
	})
}

// floatJSON keeps a float a float in JSON: json.Marshal writes 2.0 as 2.
func floatJSON(v any) any {
	f, ok := v.(float64)
	if !ok {
		return v
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return json.Number(s)
}

// normParams makes Params nil when empty, for comparison.
func normParams(ss []sqlnode.Statement) []sqlnode.Statement {
	out := make([]sqlnode.Statement, len(ss))
	for i, s := range ss {
		out[i] = s
		if len(s.Params) == 0 {
			out[i].Params = nil
		}
	}
	return out
}

// FuzzServer_db sends fuzzed bodies and query strings to the /db
// endpoints of a server over a real node: no 5xx, always JSON.
func FuzzServer_db(f *testing.F) {
	l := newTestStandalone(f, "node1")
	s, err := New(Config{Backend: l, MaxBodyBytes: 4 << 10})
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range badBodies {
		f.Add(uint8(0), "timings", b)
	}
	f.Add(uint8(0), "transaction", `["CREATE TABLE IF NOT EXISTS t(a)", ["INSERT INTO t VALUES(?)", 1]]`)
	f.Add(uint8(1), "level=strong&associative", `["SELECT * FROM t", "SELECT 1e999, x'00'"]`)
	f.Add(uint8(2), "pretty&raft_index", `[["INSERT INTO t VALUES(:a)", {"a": "x"}], "SELECT count(*) FROM t"]`)
	f.Add(uint8(1), "level=none", `["DELETE FROM t"]`)
	paths := []string{"/db/execute", "/db/query", "/db/request"}
	f.Fuzz(func(t *testing.T, which uint8, query, body string) {
		u := &url.URL{Path: paths[int(which)%len(paths)], RawQuery: query}
		req, err := http.NewRequest("POST", "http://x"+u.RequestURI(), strings.NewReader(body))
		if err != nil {
			return // not a valid URL: never reaches a server
		}
		rec := newResponseRecorder()
		s.ServeHTTP(rec, req)
		if rec.code >= 500 {
			t.Fatalf("%s %q: status %d: %s", u, body, rec.code, rec.body.String())
		}
		if !json.Valid(rec.body.Bytes()) {
			t.Fatalf("%s %q: body is not JSON: %s", u, body, rec.body.String())
		}
	})
}
