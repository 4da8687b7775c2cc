package sqlnode

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuery_stmtCache: cached SELECTs answer as fresh ones would: after a
// schema change (new columns, a dropped table), with other parameters or
// none, past the cache's size, and Close closes what it keeps.
func TestQuery_stmtCache(t *testing.T) {
	n, err := Open(Options{Path: filepath.Join(t.TempDir(), "db.sqlite"), ReadConns: 1})
	require.NoError(t, err)
	ctx := context.Background()
	idx := uint64(0)
	apply := func(sql string) {
		t.Helper()
		idx++
		resp, err := n.Apply(idx, command(t, sql))
		require.NoError(t, err)
		for _, r := range resp.Results {
			require.Empty(t, r.Error, sql)
		}
	}
	query := func(sql string, params ...any) Result {
		t.Helper()
		st := Statement{SQL: sql}
		for _, p := range params {
			st.Params = append(st.Params, Param{Value: p})
		}
		rs, err := n.Query(ctx, []Statement{st})
		require.NoError(t, err, sql)
		require.Len(t, rs, 1)
		return rs[0]
	}
	apply("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
	apply("INSERT INTO t VALUES(1, 'a'), (2, 'b')")

	for range 3 {
		r := query("SELECT * FROM t WHERE id = ?", int64(2))
		require.Equal(t, []string{"id", "v"}, r.Columns)
		require.Equal(t, [][]any{{int64(2), "b"}}, r.Values)
	}
	// Unbound parameters are NULL, as in a fresh statement.
	require.Equal(t, [][]any{{int64(5)}}, query("SELECT ?", int64(5)).Values)
	require.Equal(t, [][]any{{nil}}, query("SELECT ?").Values)

	// A new column shows at once.
	apply("ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7")
	r := query("SELECT * FROM t WHERE id = ?", int64(2))
	require.Equal(t, []string{"id", "v", "w"}, r.Columns)
	require.Equal(t, [][]any{{int64(2), "b", int64(7)}}, r.Values)

	// A table dropped: the error, as fresh; created again: rows again.
	apply("DROP TABLE t")
	r = query("SELECT * FROM t WHERE id = ?", int64(2))
	require.Contains(t, r.Error, "no such table")
	apply("CREATE TABLE t(id INTEGER PRIMARY KEY, x REAL)")
	apply("INSERT INTO t VALUES(2, 1.5)")
	r = query("SELECT * FROM t WHERE id = ?", int64(2))
	require.Empty(t, r.Error)
	require.Equal(t, []string{"id", "x"}, r.Columns)
	require.Equal(t, [][]any{{int64(2), 1.5}}, r.Values)

	// More texts than the cache keeps.
	for i := range 2 * maxCachedStmts {
		require.Equal(t, [][]any{{int64(i)}}, query(fmt.Sprintf("SELECT %d", i)).Values)
	}
	c, err := n.acquireReader(ctx)
	require.NoError(t, err)
	require.LessOrEqual(t, len(n.readStmts(c).stmts), maxCachedStmts)
	n.releaseReader(c)

	require.NoError(t, n.Check())
	require.NoError(t, n.Close(), "Close closes the cached statements first")
}
