package sqlnode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixedEnv gives Rewrite a fixed time and a byte source of 0x01, 0x02, ...
func fixedEnv() Env {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return Env{Now: time.Date(2026, 11, 25, 16, 33, 27, 123456789, time.UTC), Rand: bytes.NewReader(b)}
}

// random() of fixedEnv's first 8 bytes, little-endian.
const firstRandom = "(578437695752307201)"

func TestRewrite_table(t *testing.T) {
	const ts = "'2026-11-25 16:33:27.123'"
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"INSERT INTO t VALUES(random())", "INSERT INTO t VALUES(" + firstRandom + ")"},
		{"SELECT RANDOM ( )", "SELECT " + firstRandom},
		{`SELECT "random"()`, "SELECT " + firstRandom},
		{"SELECT x-random()", "SELECT x-" + firstRandom},
		{"SELECT 'random()'", "SELECT 'random()'"},
		{"SELECT 'it''s random()'", "SELECT 'it''s random()'"},
		{`SELECT "random()" FROM t`, `SELECT "random()" FROM t`},
		{"SELECT [random()] FROM t", "SELECT [random()] FROM t"},
		{"SELECT `random()` FROM t", "SELECT `random()` FROM t"},
		{"SELECT X'0102' -- random()\n", "SELECT X'0102' -- random()\n"},
		{"SELECT /* random() */ 1", "SELECT /* random() */ 1"},
		{"SELECT random(1)", "SELECT random(1)"}, // wrong arity: SQLite's error on every node
		{"SELECT randomblob(4)", "SELECT X'01020304'"},
		{"SELECT hex(randomblob(0))", "SELECT hex(X'01')"},
		{"SELECT randomblob(0x2)", "SELECT X'0102'"},
		{"SELECT t.random FROM t", "SELECT t.random FROM t"},
		{"INSERT INTO random(a) VALUES (1)", "INSERT INTO random(a) VALUES (1)"},
		{"CREATE TABLE date(x)", "CREATE TABLE date(x)"},
		{"CREATE INDEX i ON date(x)", "CREATE INDEX i ON date(x)"},
		{"CREATE TABLE t(a, b TEXT DEFAULT 'now', c AS (date(a)))", "CREATE TABLE t(a, b TEXT DEFAULT 'now', c AS (date(a)))"},
		{"SELECT a FROM t JOIN u ON random() > 0", "SELECT a FROM t JOIN u ON " + firstRandom + " > 0"},
		{"SELECT date('now')", "SELECT date(" + ts + ")"},
		{"SELECT date('NOW', '+1 day')", "SELECT date(" + ts + ", '+1 day')"},
		{"SELECT time('now')", "SELECT time(" + ts + ")"},
		{"SELECT datetime('now', 'start of day')", "SELECT datetime(" + ts + ", 'start of day')"},
		{"SELECT julianday('now')", "SELECT julianday(" + ts + ")"},
		{"SELECT unixepoch('now', 'subsec')", "SELECT unixepoch(" + ts + ", 'subsec')"},
		{"SELECT strftime('%s', 'now')", "SELECT strftime('%s', " + ts + ")"},
		{"SELECT strftime('now', '2020-01-01')", "SELECT strftime('now', '2020-01-01')"}, // 'now' as the format
		{"SELECT timediff('now', '2020-01-01')", "SELECT timediff(" + ts + ", '2020-01-01')"},
		{"SELECT timediff('2020-01-01', 'now')", "SELECT timediff('2020-01-01', " + ts + ")"},
		{"SELECT date()", "SELECT date(" + ts + ")"},
		{"SELECT time( )", "SELECT time( " + ts + ")"},
		{"SELECT datetime()", "SELECT datetime(" + ts + ")"},
		{"SELECT julianday()", "SELECT julianday(" + ts + ")"},
		{"SELECT unixepoch()", "SELECT unixepoch(" + ts + ")"},
		{"SELECT strftime('%Y')", "SELECT strftime('%Y', " + ts + ")"},
		{"SELECT date('2020-01-01')", "SELECT date('2020-01-01')"},
		{"SELECT date(x) FROM t", "SELECT date(x) FROM t"},
		{"SELECT CURRENT_TIMESTAMP", "SELECT '2026-11-25 16:33:27'"},
		{"SELECT current_date, CURRENT_TIME", "SELECT '2026-11-25', '16:33:27'"},
		{"SELECT t.current_date FROM t", "SELECT t.current_date FROM t"},
		{`SELECT "current_date" FROM t`, `SELECT "current_date" FROM t`},
		{"SELECT date(datetime('now'))", "SELECT date(datetime(" + ts + "))"},
		{"SELECT datetime(random(), 'unixepoch')", "SELECT datetime(" + firstRandom + ", 'unixepoch')"},
		{"SELECT changes(), last_insert_rowid()", "SELECT changes(), last_insert_rowid()"},
		{"INSERT INTO t VALUES(1); INSERT INTO t VALUES(random())", "INSERT INTO t VALUES(1); INSERT INTO t VALUES(" + firstRandom + ")"},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN a THEN 1 END; END; SELECT date()",
			"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN a THEN 1 END; END; SELECT date(" + ts + ")"},
		{"CREATE TABLE t2 AS SELECT 1 AS x", "CREATE TABLE t2 AS SELECT 1 AS x"},
		{"PRAGMA user_version = 7", "PRAGMA user_version = 7"},
		{"SELECT 'unterminated random()", "SELECT 'unterminated random()"},
		{"SELECT random(", "SELECT random("},
	}
	for _, tt := range tests {
		got, err := Rewrite(Request{Statements: []Statement{{SQL: tt.in}}}, fixedEnv())
		if err != nil {
			t.Errorf("Rewrite(%q): %v", tt.in, err)
			continue
		}
		if g := got.Statements[0].SQL; g != tt.want {
			t.Errorf("Rewrite(%q)\n got %q\nwant %q", tt.in, g, tt.want)
		}
	}
}

func TestRewrite_params(t *testing.T) {
	const ts = "2026-11-25 16:33:27.123"
	in := Request{Statements: []Statement{
		{SQL: "SELECT datetime(?), ?, date(:d)", Params: []Param{{Value: "now"}, {Value: "now"}, {Name: "d", Value: "NOW"}}},
		{SQL: "SELECT strftime(?2, ?1)", Params: []Param{{Value: "now"}, {Value: "%s"}}},
		{SQL: "SELECT date(?)", Params: []Param{{Value: int64(5)}}},
	}}
	orig := in.Statements[0].Params[0].Value
	got, err := Rewrite(in, fixedEnv())
	if err != nil {
		t.Fatal(err)
	}
	p := got.Statements[0].Params
	if p[0].Value != ts || p[1].Value != "now" || p[2].Value != ts {
		t.Errorf("params %v: want the time-value params rewritten, the plain one left", p)
	}
	if p := got.Statements[1].Params; p[0].Value != ts || p[1].Value != "%s" {
		t.Errorf("numbered params %v", p)
	}
	if got.Statements[2].Params[0].Value != int64(5) {
		t.Errorf("int param changed: %v", got.Statements[2].Params)
	}
	if in.Statements[0].Params[0].Value != orig {
		t.Error("Rewrite modified its input")
	}
}

func TestRewrite_rejects(t *testing.T) {
	tests := []struct {
		sql    string
		params []Param
		want   string
	}{
		{"SELECT total_changes()", nil, "total_changes() is not allowed"},
		{"SELECT randomblob(x) FROM t", nil, "randomblob() needs an integer literal"},
		{"SELECT randomblob(2000000)", nil, "exceeds"},
		{"SELECT datetime('now', 'localtime')", nil, `"localtime" modifier`},
		{"SELECT datetime('2020-01-01', 'UTC')", nil, `"utc" modifier`},
		{"SELECT datetime(?, ?)", []Param{{Value: "2020-01-01"}, {Value: "localtime"}}, `"localtime" modifier`},
		{"CREATE TABLE t(a DEFAULT CURRENT_TIMESTAMP)", nil, "CURRENT_TIMESTAMP inside CREATE"},
		{"CREATE TABLE t(a DEFAULT (random()))", nil, "random() inside CREATE"},
		{"CREATE VIEW v AS SELECT datetime('now')", nil, "datetime('now') inside CREATE"},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES(date()); END", nil, "date() without a time value"},
		{"ALTER TABLE t ADD COLUMN b DEFAULT (randomblob(4))", nil, "randomblob() inside CREATE or ALTER"},
		{"BEGIN", nil, "transaction control (BEGIN)"},
		{"INSERT INTO t VALUES(1); commit", nil, "transaction control (COMMIT)"},
		{"SAVEPOINT a", nil, "transaction control"},
		{"ATTACH 'x.db' AS x", nil, "ATTACH is not allowed"},
		{"VACUUM", nil, "VACUUM is not allowed"},
		{"CREATE TEMP TABLE x(a)", nil, "CREATE TEMP is not allowed"},
		{"create temporary view v as select 1", nil, "CREATE TEMPORARY is not allowed"},
		{"PRAGMA journal_mode=DELETE", nil, "PRAGMA is not allowed"},
		{"PRAGMA main.user_version=1", nil, "PRAGMA is not allowed"},
		{"SELECT ?; SELECT 2", []Param{{Value: int64(1)}}, "parameters given with 2 SQL statements"},
	}
	for _, tt := range tests {
		_, err := Rewrite(Request{Statements: []Statement{{SQL: "SELECT 1"}, {SQL: tt.sql, Params: tt.params}}}, fixedEnv())
		if !errors.Is(err, ErrRejected) {
			t.Errorf("Rewrite(%q) = %v, want ErrRejected", tt.sql, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "statement 2") {
			t.Errorf("Rewrite(%q) = %q, want it to contain %q and the statement number", tt.sql, err, tt.want)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"SELECT random(), date('now'), CURRENT_TIME -- x",
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; END; SELECT date()",
		"SELECT strftime('%s'), randomblob(3), 'it''s', \"q\"\"x\", [a b], X'00', ?1, :a",
		"SELECT datetime(?, 'utc')",
		"/* unterminated",
	} {
		f.Add(s, "now")
	}
	f.Fuzz(func(t *testing.T, sql, param string) {
		var b strings.Builder
		for _, tok := range tokenize(sql) {
			if tok.end <= tok.start {
				t.Fatalf("empty token %+v", tok)
			}
			b.WriteString(tok.text(sql))
		}
		if b.String() != sql {
			t.Fatalf("tokens do not cover the input")
		}
		req := Request{Statements: []Statement{{SQL: sql, Params: []Param{{Value: param}, {Name: "a", Value: param}}}}}
		once, err := Rewrite(req, fixedEnv())
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v does not wrap ErrRejected", err)
			}
			return
		}
		// Everything non-deterministic became a literal: a second pass
		// changes nothing.
		twice, err := Rewrite(once, fixedEnv())
		if err != nil {
			t.Fatalf("second pass rejected %q: %v", once.Statements[0].SQL, err)
		}
		if twice.Statements[0].SQL != once.Statements[0].SQL || !reflect.DeepEqual(twice.Statements[0].Params, once.Statements[0].Params) {
			t.Fatalf("second pass changed %q to %q", once.Statements[0].SQL, twice.Statements[0].SQL)
		}
	})
}
