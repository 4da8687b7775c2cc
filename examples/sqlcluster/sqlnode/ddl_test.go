package sqlnode

import "testing"

// DDL changes no row: its rows_affected must not leak from the
// bookkeeping UPDATE that records the index, nor from an earlier statement.
func TestNode_Apply_ddlRowsAffected(t *testing.T) {
	n := tempNode(t)
	r, err := n.Apply(1, command(t, "CREATE TABLE t(x)", "INSERT INTO t VALUES(1),(2)", "CREATE INDEX tx ON t(x)", "UPDATE t SET x=x WHERE x>5"))
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 2, 0, 0}
	if len(r.Results) != len(want) {
		t.Fatalf("results %+v", r.Results)
	}
	for i, w := range want {
		if got := r.Results[i].RowsAffected; got != w || r.Results[i].Error != "" {
			t.Errorf("statement %d: rows affected %d (error %q), want %d", i, got, r.Results[i].Error, w)
		}
	}
}
