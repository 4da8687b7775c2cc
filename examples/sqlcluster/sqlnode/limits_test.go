package sqlnode

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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

// TestNode_Apply_resultLimits: rows that a request's SELECT or RETURNING
// collects during apply were unbounded (issue 16): every node held them
// all. The request's Limits, written in the entry by the node that
// accepted it, now bound them: past them the request fails with
// ErrResultTooLarge and rolls back, the same on nodes with any
// configuration, and apply keeps no more rows than the limit.
func TestNode_Apply_resultLimits(t *testing.T) {
	a, b := tempNode(t), tempNode(t)
	const big = 50_000
	enc := func(lim ResultLimits, sqls ...string) []byte {
		var req Request
		for _, s := range sqls {
			req.Statements = append(req.Statements, Statement{SQL: s})
		}
		req.Limits = lim
		cmd, err := Prepare(req, fixedEnv())
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	small := ResultLimits{MaxRows: 100, MaxBytes: 1 << 20}
	log := [][]byte{
		enc(small, "CREATE TABLE t(x INTEGER, y TEXT)",
			fmt.Sprintf("INSERT INTO t SELECT value, 'row' FROM generate_series(1, %d)", big)),
		enc(small, "SELECT x FROM t"),                                                    // rows over
		enc(small, "INSERT INTO t SELECT x + 1000000, y FROM t RETURNING x"),             // RETURNING over
		enc(ResultLimits{MaxRows: -1, MaxBytes: 4000}, "SELECT y FROM t WHERE x <= 500"), // bytes over
		enc(small, "SELECT x FROM t WHERE x <= 60", "SELECT x FROM t WHERE x <= 60"),     // over across statements
		enc(small, "SELECT x FROM t WHERE x <= 100", "INSERT INTO t VALUES(0, 'kept')"),  // within
	}
	var ra, rb []Response
	for i, cmd := range log {
		before := a.RowsCollected()
		ra = append(ra, mustApply(t, a, uint64(i+1), cmd))
		rb = append(rb, mustApply(t, b, uint64(i+1), cmd))
		if kept := a.RowsCollected() - before; kept > 100 {
			t.Errorf("entry %d: apply kept %d rows, more than the limit", i+1, kept)
		}
	}
	if !reflect.DeepEqual(stripTime(ra), stripTime(rb)) {
		t.Fatal("different results on the two nodes")
	}
	for i := 1; i <= 4; i++ {
		r := ra[i]
		last := r.Results[len(r.Results)-1]
		if !r.RolledBack || !strings.Contains(last.Error, ErrResultTooLarge.Error()) || last.Values != nil {
			t.Errorf("entry %d: rolled back %v, error %q, %d rows; want a rolled back ErrResultTooLarge", i+1, r.RolledBack, last.Error, len(last.Values))
		}
	}
	if r := ra[5]; r.RolledBack || len(r.Results[0].Values) != 100 {
		t.Errorf("within the limits: rolled back %v, %d rows", r.RolledBack, len(r.Results[0].Values))
	}
	if got := queryInts(t, a, "SELECT count(*) FROM t"); got[0] != big+1 {
		t.Errorf("%d rows, want %d: the RETURNING insert was not rolled back", got[0], big+1)
	}
	sa, err := a.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sb, err := b.Checksum(context.Background()); err != nil || sa != sb {
		t.Errorf("checksums %v %v %v", sa, sb, err)
	}
}
