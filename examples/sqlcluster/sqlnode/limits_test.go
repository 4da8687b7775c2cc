package sqlnode

import (
	"context"
	"errors"
	"testing"
)

// TestNode_Query_resultLimits: a read whose rows exceed the context's
// ResultLimits fails with ErrResultTooLarge (issue 16: a 400 MB result
// grew a node to 1.85 GB); within them, or without limits, it is whole.
func TestNode_Query_resultLimits(t *testing.T) {
	n := tempNode(t)
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x INTEGER, y TEXT)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 100) INSERT INTO t SELECT i, printf('%.100c', 'a') FROM c"))
	all := []Statement{{SQL: "SELECT x, y FROM t"}}
	// One row: 24 + 2*16 + 8 + 100 bytes.
	const rowBytes = 24 + 2*16 + 8 + 100
	for _, tc := range []struct {
		name     string
		lim      ResultLimits
		stmts    []Statement
		wantRows int // -1: ErrResultTooLarge
	}{
		{"none", ResultLimits{}, all, 100},
		{"rows exact", ResultLimits{MaxRows: 100}, all, 100},
		{"rows over", ResultLimits{MaxRows: 99}, all, -1},
		{"bytes exact", ResultLimits{MaxBytes: 100 * rowBytes}, all, 100},
		{"bytes over", ResultLimits{MaxBytes: 100*rowBytes - 1}, all, -1},
		{"over across statements", ResultLimits{MaxRows: 150},
			[]Statement{{SQL: "SELECT x FROM t"}, {SQL: "SELECT y FROM t"}}, -1},
		{"endless query stopped", ResultLimits{MaxRows: 1000},
			[]Statement{{SQL: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c"}}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := n.Query(WithResultLimits(context.Background(), tc.lim), tc.stmts)
			if tc.wantRows < 0 {
				if !errors.Is(err, ErrResultTooLarge) || rs != nil {
					t.Fatalf("got %d results, %v; want ErrResultTooLarge", len(rs), err)
				}
				return
			}
			if err != nil || len(rs) != 1 || rs[0].Error != "" || len(rs[0].Values) != tc.wantRows {
				t.Fatalf("got %v, %v; want %d rows", rs, err, tc.wantRows)
			}
		})
	}
	// The read connection is usable afterwards.
	if got := queryInts(t, n, "SELECT count(*) FROM t"); got[0] != 100 {
		t.Errorf("count after refused reads: %v", got)
	}
}
