package cluster_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster/replica"
)

// TestNode_hostileInputs_checksumsAgree: what a hostile or careless
// client sends (functions whose value differs per call or per node,
// requests that fail half-way, statements the engine refuses, a large
// parameter) and what a buggy proposer appends to the log directly
// (entries without the replica's framing, a framed command that is not
// a valid SQL command) end, on every node, in the same database at the
// same index: the checksums at one index agree and the integrity check
// passes.
func TestNode_hostileInputs_checksumsAgree(t *testing.T) {
	c := startTest(t, localcluster.Options{Nodes: 3})
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS h(id INTEGER PRIMARY KEY, a, b, c)"))
	w, err := c.Writer(ctx)
	require.NoError(t, err)

	requests := []sqlnode.Request{
		req(stmt("INSERT INTO h(a, b, c) VALUES(random(), randomblob(16), hex(randomblob(4)))")),
		req(stmt("INSERT INTO h(a, b, c) VALUES(datetime('now'), julianday('now'), strftime('%f', 'now'))")),
		req(stmt("INSERT INTO h(a, b, c) VALUES(CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_TIME)")),
		req(stmt("INSERT INTO h(a, b, c) VALUES(changes(), total_changes(), last_insert_rowid())")),
		req(stmt("INSERT INTO h(a) VALUES(1)"), stmt("INSERT INTO nosuch VALUES(1)")), // fails half-way
		req(stmt("INSERT INTO h(a) VALUES(")),                                         // syntax error
		req(stmt("UPDATE h SET a = random() WHERE id % 2 = 0")),
		req(stmt("INSERT INTO h(a) VALUES(?)", strings.Repeat("x", 1<<20))),
		req(stmt("PRAGMA journal_mode=DELETE")),
		req(stmt("ATTACH DATABASE 'other.db' AS o")),
		req(stmt("VACUUM")),
		req(stmt("DELETE FROM h WHERE a > random()")),
	}
	for i, r := range requests {
		// Any outcome (a result, an error result, a refusal) is fine
		// here: what matters is that every node reaches the same state.
		_, err := w.Execute(ctx, r)
		t.Logf("request %d: %v", i, err)
	}
	// Entries a buggy proposer appends to the log directly.
	for _, data := range [][]byte{
		{},
		{0xff, 1, 2, 3},
		{'D'},
		replica.EncodeCommand([]byte("not a SQL command")),
		replica.EncodeCommand(nil),
	} {
		_, _, err := w.Raft().Apply(ctx, data)
		require.NoError(t, err, "%q", data)
	}
	mustExec(t, ctx, c, stmt("INSERT INTO h(a) VALUES('after')"))

	rep, err := c.Verify(ctx)
	require.NoError(t, err)
	require.Empty(t, rep.Diverged, "checksums at index %d: %v", rep.Index, rep.Checksums)
	require.Equal(t, "ok", rep.Integrity)
	require.Len(t, rep.Checksums, 3)
}
