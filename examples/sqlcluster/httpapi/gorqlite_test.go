package httpapi

import (
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/rqlite/gorqlite"
	_ "github.com/rqlite/gorqlite/stdlib" // database/sql driver "rqlite"
)

// hostOf returns host:port of a base URL.
func hostOf(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// TestServer_gorqlite drives the API with gorqlite, unchanged: leader
// discovery through /status and /nodes, writes, reads at every level,
// parameters, the unified endpoint, queued writes.
func TestServer_gorqlite(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	conn, err := gorqlite.OpenWithClient(ts.URL, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leader, err := conn.Leader()
	if err != nil || leader != hostOf(t, ts.URL) {
		t.Fatalf("Leader() = %q, %v; want %q", leader, err, hostOf(t, ts.URL))
	}
	peers, err := conn.Peers()
	if err != nil || len(peers) != 1 || peers[0] != leader {
		t.Fatalf("Peers() = %v, %v", peers, err)
	}

	if _, err := conn.WriteOne("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER, born DATETIME)"); err != nil {
		t.Fatal(err)
	}
	wrs, err := conn.WriteParameterized([]gorqlite.ParameterizedStatement{
		{Query: "INSERT INTO foo(name, age, born) VALUES(?, ?, ?)", Arguments: []any{"fiona", 20, "2006-01-02 15:04:05"}},
		{Query: "INSERT INTO foo(name, age) VALUES(?, ?)", Arguments: []any{"declan", 25.0}},
	})
	if err != nil || len(wrs) != 2 || wrs[0].LastInsertID != 1 || wrs[1].LastInsertID != 2 || wrs[1].RowsAffected != 1 {
		t.Fatalf("WriteParameterized: %+v, %v", wrs, err)
	}
	// A failing statement: gorqlite sends ?transaction by default, so
	// nothing of the batch stays.
	wrs, err = conn.Write([]string{"INSERT INTO foo(name) VALUES('x')", "INSERT INTO nosuch VALUES(1)"})
	var se *gorqlite.StatementError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "no such table") || len(wrs) != 2 {
		t.Fatalf("Write with an error: %+v, %v", wrs, err)
	}

	for _, level := range []string{"none", "weak", "linearizable", "strong"} {
		cl, err := gorqlite.ParseConsistencyLevel(level)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.SetConsistencyLevel(cl); err != nil {
			t.Fatal(err)
		}
		qr, err := conn.QueryOneParameterized(gorqlite.ParameterizedStatement{
			Query: "SELECT id, name, age, born FROM foo WHERE age >= ? ORDER BY id", Arguments: []any{18},
		})
		if err != nil {
			t.Fatalf("level %s: %v", level, err)
		}
		var names []string
		for qr.Next() {
			var id, age int64
			var name string
			var born gorqlite.NullTime
			if err := qr.Scan(&id, &name, &age, &born); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			if id == 1 && (!born.Valid || born.Time.Year() != 2006) {
				t.Errorf("born: %+v", born)
			}
		}
		if strings.Join(names, ",") != "fiona,declan" {
			t.Errorf("level %s: rows %v", level, names)
		}
		if types := qr.Types(); len(types) != 4 || types[3] != "datetime" {
			t.Errorf("types %v", types)
		}
	}

	// Map and the unified endpoint.
	rrs, err := conn.Request([]string{"INSERT INTO foo(name, age) VALUES('aoife', 30)", "SELECT count(*) AS n FROM foo"})
	if err != nil || len(rrs) != 2 || rrs[0].Write == nil || rrs[1].Query == nil {
		t.Fatalf("Request: %+v, %v", rrs, err)
	}
	if rrs[1].Query.Next() {
		m, err := rrs[1].Query.Map()
		if err != nil || m["n"] != float64(3) {
			t.Errorf("Map: %v, %v", m, err)
		}
	} else {
		t.Error("no row")
	}

	// Queued writes get a sequence number at once; batches run in order,
	// so once a later ?queue&wait returns, the queued write applied.
	seq, err := conn.QueueOne("DELETE FROM foo WHERE name = 'aoife'")
	if err != nil || seq <= 0 {
		t.Fatalf("QueueOne: %d, %v", seq, err)
	}
	ts.mustOK(t, "POST", "/db/execute?queue&wait", `["SELECT 1"]`)
	qr, err := conn.QueryOne("SELECT count(*) FROM foo")
	if err != nil || !qr.Next() {
		t.Fatal(err)
	}
	var n int
	if err := qr.Scan(&n); err != nil || n != 2 {
		t.Errorf("count after the queued delete: %d, %v", n, err)
	}
}

// TestServer_gorqliteStdlib uses gorqlite's database/sql driver.
func TestServer_gorqliteStdlib(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	db, err := sql.Open("rqlite", ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec("INSERT INTO kv VALUES(?, ?)", "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Errorf("RowsAffected: %d, %v", n, err)
	}
	var v int
	if err := db.QueryRow("SELECT v FROM kv WHERE k = ?", "a").Scan(&v); err != nil || v != 1 {
		t.Errorf("QueryRow: %d, %v", v, err)
	}
}
