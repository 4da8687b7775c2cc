package cluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkSQLEngine_apply measures what the replica adds to the apply
// path: the same commands, in batches of 16, applied by the SQL engine's
// DB directly (sqlnode.ApplyBatch) and through replica.Replica.Apply
// (framing, group commit bookkeeping, the apply lock). Compare the two in
// one run: replica/direct is the overhead.
func BenchmarkSQLEngine_apply(b *testing.B) {
	const batch = 16
	for _, journal := range []string{"WAL", "TRUNCATE"} {
		s := sqlSubject(b, journal)
		cmds := make([][]byte, 512)
		for i := range cmds {
			cmds[i] = s.Command(uint64(i + 1))
		}
		b.Run("journal="+journal+"/path=direct", func(b *testing.B) {
			db, err := s.Engine.Open(vfs.NewMem())
			require.NoError(b, err)
			defer db.Close()
			idx := uint64(0)
			for b.Loop() {
				es := make([]replica.Entry, batch)
				for j := range es {
					idx++
					es[j] = replica.Entry{Index: idx, Data: cmds[idx%uint64(len(cmds))]}
				}
				require.NoError(b, db.Apply(es))
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
		b.Run("journal="+journal+"/path=replica", func(b *testing.B) {
			lg := replicatest.NewLog()
			r := replica.New(replica.Config[*sqlDB]{Engine: s.Engine, Name: "bench"})
			defer r.Shutdown()
			r.SetLog(lg)
			require.NoError(b, r.Open(context.Background(), vfs.NewMem()))
			for b.Loop() {
				from := lg.Len() + 1
				for j := 0; j < batch; j++ {
					lg.Append(replica.EncodeCommand(cmds[(from+uint64(j))%uint64(len(cmds))]))
				}
				lg.Feed(r, from, from+batch-1, batch)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
