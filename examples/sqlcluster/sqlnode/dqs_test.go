package sqlnode

import (
	"context"
	"testing"
)

// TestDoubleQuotedStrings: a double-quoted token that names no column is
// a string in DML and DDL, on the apply connection and on every read
// connection (Query and ReadOnlyDB), as in rqlite; one that names a column
// is still the column.
func TestDoubleQuotedStrings(t *testing.T) {
	n := tempNode(t)
	resp, err := n.Apply(1, command(t,
		`CREATE TABLE t(name TEXT CHECK(name <> "forbidden"))`,
		`INSERT INTO t VALUES("x")`,
		`INSERT INTO t(name) SELECT "y" WHERE "a" = 'a'`,
	))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Error != "" {
			t.Fatalf("statement %d: %s", i+1, r.Error)
		}
	}
	resp, err = n.Apply(2, command(t, `INSERT INTO t VALUES("forbidden")`))
	if err != nil || len(resp.Results) != 1 || resp.Results[0].Error == "" {
		t.Fatalf("the CHECK with a double-quoted string let a row through: %+v %v", resp, err)
	}
	ctx := context.Background()
	rs, err := n.Query(ctx, []Statement{
		{SQL: `SELECT count(*) FROM sqlite_master WHERE type="table" AND name="t"`},
		{SQL: `SELECT group_concat("name", ',') FROM t WHERE name <> "z"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Error != "" || len(rs[0].Values) != 1 || rs[0].Values[0][0] != int64(1) {
		t.Errorf("sqlite_master by type=\"table\": %+v", rs[0])
	}
	if rs[1].Error != "" || len(rs[1].Values) != 1 || rs[1].Values[0][0] != "x,y" {
		t.Errorf("a double-quoted column name must stay the column: %+v", rs[1])
	}
	db, err := n.ReadOnlyDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRowContext(ctx, `SELECT name FROM t WHERE name = "y"`).Scan(&name); err != nil || name != "y" {
		t.Errorf("ReadOnlyDB: %q %v", name, err)
	}
}
