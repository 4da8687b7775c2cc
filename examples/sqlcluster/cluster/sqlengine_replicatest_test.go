package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
)

// sqlSubject is the replicatest subject for this package's SQL engine in
// a journal mode: each command appends a row and updates a counter (not
// idempotent); the state is sqlnode's logical checksum.
func sqlSubject(t testing.TB, journal string) replicatest.Subject[*sqlDB] {
	e := newEngine("replicatest", "main.db", slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	e.sqlOpts = sqlnode.Options{JournalMode: journal, WALAutoCheckpoint: walAutoCheckpoint(journal, DefaultResetThreshold)}
	e.indexDir = t.TempDir()
	return replicatest.Subject[*sqlDB]{
		Engine: sqlEngine{e},
		Command: func(i uint64) []byte {
			cmd, err := sqlnode.Prepare(sqlnode.Request{Statements: []sqlnode.Statement{
				{SQL: "CREATE TABLE IF NOT EXISTS t(k INTEGER, v INTEGER)"},
				{SQL: "CREATE TABLE IF NOT EXISTS c(k INTEGER PRIMARY KEY, n INTEGER)"},
				{SQL: fmt.Sprintf("INSERT INTO t VALUES(%d, %d)", i%5, i)},
				{SQL: fmt.Sprintf("INSERT INTO c VALUES(%d, %d) ON CONFLICT(k) DO UPDATE SET n = n * 2 + excluded.n", i%3, i)},
			}}, sqlnode.Env{})
			require.NoError(t, err)
			return cmd
		},
		State: func(db *sqlDB) ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sum, err := db.n.Checksum(ctx)
			return sum.Sum[:], err
		},
		Entries: 40,
	}
}

// TestSQLEngine_replicatest runs the replica conformance suite on the SQL
// engine, in both journal modes.
func TestSQLEngine_replicatest(t *testing.T) {
	for _, journal := range []string{"WAL", "TRUNCATE"} {
		t.Run(journal, func(t *testing.T) {
			replicatest.Run(t, sqlSubject(t, journal))
		})
	}
}
