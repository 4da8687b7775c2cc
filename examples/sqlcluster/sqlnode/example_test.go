package sqlnode_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// Two entries of a replicated log, applied to one node; the second fails
// and rolls back its own statements, yet its index is recorded.
func Example() {
	dir, err := os.MkdirTemp("", "sqlnode")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	n, err := sqlnode.Open(sqlnode.Options{Path: filepath.Join(dir, "main.db")})
	if err != nil {
		panic(err)
	}
	defer n.Close()

	log := []sqlnode.Request{
		{Statements: []sqlnode.Statement{
			{SQL: "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"},
			{SQL: "INSERT INTO t(v) VALUES(?)", Params: []sqlnode.Param{{Value: "a"}}},
		}},
		{Statements: []sqlnode.Statement{
			{SQL: "INSERT INTO t(v) VALUES('b')"},
			{SQL: "INSERT INTO t(v) VALUES(NULL)"},
		}},
	}
	for i, req := range log {
		cmd, err := sqlnode.Prepare(req, sqlnode.Env{})
		if err != nil {
			panic(err)
		}
		resp, err := n.Apply(uint64(i+1), cmd)
		if err != nil {
			panic(err)
		}
		last := resp.Results[len(resp.Results)-1]
		fmt.Printf("index %d: rolled back %v, last error %q\n", resp.Index, resp.RolledBack, last.Error)
	}
	rs, err := n.Query(context.Background(), []sqlnode.Statement{{SQL: "SELECT id, v FROM t"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(rs[0].Columns, rs[0].Values, "applied", n.AppliedIndex())
	// Output:
	// index 1: rolled back false, last error ""
	// index 2: rolled back true, last error "sqlite3: constraint failed: NOT NULL constraint failed: t.v"
	// [id v] [[1 a]] applied 2
}

// Prepare rewrites non-deterministic SQL into literals before the log.
func ExampleRewrite() {
	req := sqlnode.Request{Statements: []sqlnode.Statement{{SQL: "SELECT 'random()', date('now', '+1 day'), CURRENT_DATE -- random()"}}}
	out, err := sqlnode.Rewrite(req, sqlnode.Env{Now: mustTime("2026-11-25T16:33:27Z")})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Statements[0].SQL)
	_, err = sqlnode.Rewrite(sqlnode.Request{Statements: []sqlnode.Statement{{SQL: "SELECT datetime('now', 'localtime')"}}}, sqlnode.Env{})
	fmt.Println(err)
	// Output:
	// SELECT 'random()', date('2026-11-25 16:33:27.000', '+1 day'), '2026-11-25' -- random()
	// sqlnode: request rejected: statement 1: the "localtime" modifier of datetime() depends on each node's time zone; convert on the client instead
}

func mustTime(s string) (t time.Time) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
