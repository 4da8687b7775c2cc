package sqlnode

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestApply_stmtCache applies the same requests to a node that keeps the
// requests' prepared statements and to one that prepares each anew, and
// requires the same responses and the same database, through changes of
// the schema (a new column shows in SELECT * and RETURNING *, a dropped
// table fails, a table created again works), unbound parameters after
// bound ones, failing statements, the largest-rowid refusal, rollbacks,
// texts of several statements and more texts than the cache keeps. Only
// plain statements are kept.
func TestApply_stmtCache(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	cached := openTestNode(t, Options{Path: filepath.Join(dir, "cached.db")})
	fresh := openTestNode(t, Options{Path: filepath.Join(dir, "fresh.db")})
	fresh.mu.stmts.off = true

	p := func(sql string, params ...any) Statement {
		st := Statement{SQL: sql}
		for _, v := range params {
			st.Params = append(st.Params, Param{Value: v})
		}
		return st
	}
	script := [][]Statement{
		{p("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")},
		{p("INSERT INTO t(v) VALUES(?)", "a")},
		{p("INSERT INTO t(v) VALUES(?)", "b"), p("SELECT * FROM t ORDER BY id")},
		{p("INSERT INTO t(v) VALUES(?)")}, // unbound: NULL
		{p("ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7")},
		{p("SELECT * FROM t ORDER BY id")},
		{p("INSERT INTO t(v) VALUES(?) RETURNING *", "c")},
		{p("INSERT INTO t(id, v) VALUES(?, ?)", int64(1), "dup")}, // fails: rolled back
		{p("INSERT INTO t(v) VALUES(?)", "d"), p("INSERT INTO t(id, v) VALUES(?, ?)", int64(2), "dup")},
		{p("INSERT INTO t(id, v) VALUES(?, ?)", int64(math.MaxInt64), "max")}, // refused
		{p("INSERT OR ROLLBACK INTO t(id, v) VALUES(?, ?)", int64(1), "x")},
		{p("INSERT INTO t(v) VALUES('e'); INSERT INTO t(v) VALUES('f')")},
		{p("DROP TABLE t")},
		{p("SELECT * FROM t ORDER BY id")},
		{p("INSERT INTO t(v) VALUES(?)", "g")},
		{p("CREATE TABLE t(id INTEGER PRIMARY KEY, x REAL, v TEXT)")},
		{p("INSERT INTO t(v) VALUES(?)", "h"), p("SELECT * FROM t ORDER BY id")},
		{p("INSERT INTO t(v) VALUES(?) RETURNING *", "i")},
	}
	for i := range 2 * maxCachedStmts {
		script = append(script, []Statement{p("INSERT INTO t(x) VALUES(?)", float64(i)), p("SELECT count(*) FROM t WHERE x < " + string(rune('0'+i%10)))})
	}
	// Twice, so that the second pass runs kept statements, in batches of
	// random sizes.
	script = append(script, script...)
	idx := uint64(0)
	for len(script) > 0 {
		k := min(len(script), 1+rng.IntN(4))
		var entries []Entry
		for _, stmts := range script[:k] {
			cmd, err := Prepare(Request{Statements: stmts}, fixedEnv())
			require.NoError(t, err)
			idx++
			entries = append(entries, Entry{Index: idx, Command: cmd})
		}
		script = script[k:]
		want, err := fresh.ApplyBatch(entries)
		require.NoError(t, err)
		got, err := cached.ApplyBatch(entries)
		require.NoError(t, err)
		for _, rs := range [][]Response{want, got} {
			for i := range rs {
				for j := range rs[i].Results {
					rs[i].Results[j].Time = 0
				}
			}
		}
		require.Equal(t, want, got, "entries up to %d", idx)
	}
	kept := keptStmts(cached)
	require.NotEmpty(t, kept)
	require.LessOrEqual(t, len(kept), maxCachedStmts)
	for _, sql := range kept {
		require.NotContains(t, sql, "CREATE", "DDL is not kept")
		require.NotContains(t, sql, "; ", "several statements are not kept")
	}
	require.Empty(t, keptStmts(fresh))

	// DDL, ANALYZE or a pragma closes every kept statement.
	for _, sql := range []string{"CREATE INDEX tx ON t(x)", "ANALYZE", "PRAGMA user_version=3"} {
		idx++
		mustApply(t, cached, idx, command(t, "INSERT INTO t(x) VALUES(1)"))
		require.Contains(t, keptStmts(cached), "INSERT INTO t(x) VALUES(1)")
		idx++
		mustApply(t, fresh, idx-1, command(t, "INSERT INTO t(x) VALUES(1)"))
		mustApply(t, fresh, idx, command(t, sql, "SELECT 2"))
		r := mustApply(t, cached, idx, command(t, sql, "SELECT 2"))
		require.False(t, r.RolledBack, sql)
		require.Equal(t, []string{"SELECT 2"}, keptStmts(cached), sql)
	}

	ctx := context.Background()
	s1, err := cached.Checksum(ctx)
	require.NoError(t, err)
	s2, err := fresh.Checksum(ctx)
	require.NoError(t, err)
	require.Equal(t, s2, s1)
}

// keptStmts returns the texts of the request statements that n's apply
// connection keeps.
func keptStmts(n *Node) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for sql := range n.mu.stmts.user.stmts {
		out = append(out, sql)
	}
	return out
}
