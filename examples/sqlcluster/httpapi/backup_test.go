package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func getBody(t *testing.T, ts *testServer, path string) []byte {
	t.Helper()
	return []byte(ts.mustOK(t, "GET", path, ""))
}

func post(t *testing.T, ts *testServer, path string, body []byte) (int, string) {
	t.Helper()
	return ts.do(t, "POST", path, string(body))
}

// TestServer_backupLoad: every backup format loads into a fresh node with
// the same checksum; bad input gets 400 and changes nothing.
func TestServer_backupLoad(t *testing.T) {
	src, srcLocal := newStandaloneServer(t)
	src.mustOK(t, "POST", "/db/execute?transaction", `[
		"CREATE TABLE foo (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, b BLOB)",
		"CREATE INDEX foo_name ON foo(name)",
		["INSERT INTO foo(name, b) VALUES(?, x'0102')", "fiona"],
		["INSERT INTO foo(name) VALUES(?)", "it's \"quoted\""],
		"CREATE VIEW v AS SELECT name FROM foo"]`)
	want, err := srcLocal.node.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	file := getBody(t, src, "/db/backup")
	if !bytes.HasPrefix(file, []byte("SQLite format 3\x00")) {
		t.Fatalf("backup is not a SQLite file: %q", file[:min(len(file), 32)])
	}
	dump := getBody(t, src, "/db/backup?fmt=sql")
	if !strings.Contains(string(dump), "CREATE TABLE foo") || !strings.HasSuffix(string(dump), "COMMIT;\n") {
		t.Fatalf("dump:\n%s", dump)
	}
	gz, err := gzip.NewReader(bytes.NewReader(getBody(t, src, "/db/backup?compress&vacuum")))
	if err != nil {
		t.Fatal(err)
	}
	vacuumed, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"file": file, "sql": dump, "vacuumed": vacuumed} {
		dst, dstLocal := newStandaloneServer(t)
		dst.mustOK(t, "POST", "/db/execute", `["CREATE TABLE old(x)", "INSERT INTO old VALUES(1)"]`)
		if code, body := post(t, dst, "/db/load", data); code != http.StatusOK {
			t.Fatalf("%s: load: %d %s", name, code, body)
		}
		got, err := dstLocal.node.Checksum(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.Sum != want.Sum {
			t.Errorf("%s: checksum after load %v, want %v", name, got, want)
		}
		before := got.Sum
		for bad, data := range map[string][]byte{
			"not sqlite":  []byte("hello"),
			"truncated":   dump[:len(dump)/2],
			"half a file": file[:len(file)/2],
		} {
			code, body := post(t, dst, "/db/load", data)
			if code != http.StatusBadRequest || !strings.Contains(body, "load") {
				t.Errorf("%s, %s: %d %s", name, bad, code, body)
			}
		}
		if got, _ := dstLocal.node.Checksum(context.Background()); got.Sum != before {
			t.Errorf("%s: a refused load changed the database", name)
		}
	}
	big := startServer(t, newTestStandalone(t, "node1"), Config{MaxBodyBytes: 100})
	if code, body := post(t, big, "/db/load", file); code != http.StatusBadRequest || !strings.Contains(body, "size limit") {
		t.Errorf("over the size limit: %d %s", code, body)
	}
}
