package sqlnode

import (
	"context"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestStartsWithWrite: a statement that startsWithWrite calls a write is
// one SQLite does not call read-only (Precheck skips it on that ground).
func TestStartsWithWrite(t *testing.T) {
	conn, err := sqlite3.Open(":memory:")
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE VIEW w AS SELECT 1"))
	for _, tc := range []struct {
		sql   string
		write bool
	}{
		{"INSERT INTO t(v) VALUES(1)", true},
		{"  -- c\n /* d */ insert into t(v) values(1)", true},
		{"REPLACE INTO t(id, v) VALUES(1, 2)", true},
		{"Update t SET v = 1", true},
		{"DELETE FROM t", true},
		{"CREATE TABLE IF NOT EXISTS t(x)", true},
		{"CREATE INDEX i ON t(v)", true},
		{"ALTER TABLE t ADD COLUMN z", true},
		{"DROP VIEW w", true},
		{"SELECT * FROM t", false},
		{"WITH x AS (SELECT 1) INSERT INTO t(v) SELECT * FROM x", false}, // not known from its first word
		{"VALUES(1)", false},
		{"PRAGMA table_info(t)", false},
		{"EXPLAIN INSERT INTO t(v) VALUES(1)", false},
		{"INSERTX", false},
		{"\"INSERT\"", false},
		{"; INSERT INTO t(v) VALUES(1)", false},
		{"", false},
	} {
		require.Equal(t, tc.write, startsWithWrite(tc.sql), tc.sql)
		if !tc.write {
			continue
		}
		stmt, _, err := conn.Prepare(tc.sql)
		require.NoError(t, err, tc.sql)
		require.False(t, stmt.ReadOnly(), tc.sql)
		stmt.Close()
	}
}

// TestPrecheck_writeFirst: a request whose first statement writes is not
// prechecked, even if a later read-only statement would pass the bound
// (as before: the precheck stopped at the first statement that writes).
func TestPrecheck_writeFirst(t *testing.T) {
	n := openTestNode(t, Options{Path: t.TempDir() + "/db", MaxSteps: 1000})
	ctx := context.Background()
	slow := Statement{SQL: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 100000) SELECT count(*) FROM c"}
	require.ErrorIs(t, n.Precheck(ctx, Request{Statements: []Statement{slow}}), ErrRejected)
	require.NoError(t, n.Precheck(ctx, Request{Statements: []Statement{{SQL: "CREATE TABLE IF NOT EXISTS t(x)"}, slow}}))
}

func TestSingleSelect(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                             true,
		"  select v from t where id = ? ; ":    true,
		"/* c */ VALUES(1) -- d":               true,
		"SELECT 'a;b'":                         true,
		"SELECT 1; SELECT 2":                   false,
		"SELECT 1; PRAGMA wal_checkpoint":      false,
		"SELECT 1;;":                           false,
		"WITH x AS (SELECT 1) SELECT * FROM x": false,
		"PRAGMA wal_checkpoint":                false,
		"SELECTED":                             false,
		"SELECT 'unterminated":                 false,
		"":                                     false,
		";":                                    false,
	} {
		require.Equal(t, want, singleSelect(sql), sql)
	}
}
