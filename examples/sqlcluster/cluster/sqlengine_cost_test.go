package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// The SQL adapter and the replica add no I/O to sqlnode's: the same
// commands, in calls of the same size, cost the same file writes and
// syncs applied by sqlnode directly (sqlnode.Node.ApplyBatch) and through
// replica.Replica.Apply and sqlDB.Apply (examples/bench figure 10's apply path). An
// extra sync, checkpoint or index write per commit shows here. (In WAL
// mode the run stays below the checkpoint threshold: checkpoints run on
// sqlnode's own goroutine, at times of their own.)
func TestSQLEngine_applyIOAsDirect(t *testing.T) {
	for _, journal := range []string{"WAL", "TRUNCATE"} {
		for _, batch := range []int{1, 16} {
			t.Run(fmt.Sprintf("journal=%s/batch=%d", journal, batch), func(t *testing.T) {
				const n = 160
				s := sqlSubject(t, journal)
				if journal == "WAL" {
					// No checkpoint in the run: the background
					// checkpointer's timing would make the counts vary.
					s.Engine.(sqlEngine).e.sqlOpts.WALAutoCheckpoint = 1 << 20
				}
				cmds := make([][]byte, n)
				for i := range cmds {
					cmds[i] = s.Command(uint64(i + 1))
				}

				direct := vfs.NewMem()
				db, err := s.Engine.Open(direct)
				require.NoError(t, err)
				before := direct.Stats()
				for from := 0; from < n; from += batch {
					es := make([]sqlnode.Entry, 0, batch)
					for i := from; i < from+batch && i < n; i++ {
						es = append(es, sqlnode.Entry{Index: uint64(i + 1), Command: cmds[i]})
					}
					_, err := db.n.ApplyBatch(es)
					require.NoError(t, err)
				}
				want := direct.Stats()
				require.NoError(t, db.Close())

				via := vfs.NewMem()
				lg := replicatest.NewLog()
				r := replica.New(replica.Config[*sqlDB]{Engine: s.Engine, Name: t.Name()})
				defer r.Shutdown()
				r.SetLog(lg)
				require.NoError(t, r.Open(context.Background(), via))
				opened := via.Stats()
				assert.Equal(t, before, opened, "opening")
				for _, c := range cmds {
					lg.Append(replica.EncodeCommand(c))
				}
				out := lg.Feed(r, 1, n, batch)
				for _, o := range out {
					require.Equal(t, replica.Applied, o)
				}
				got := via.Stats()
				t.Logf("%s, %d per call: direct %+v, replica %+v", journal, batch, want, got)
				assert.Equal(t, want.Syncs-before.Syncs, got.Syncs-opened.Syncs, "syncs")
				assert.Equal(t, want.DirSyncs-before.DirSyncs, got.DirSyncs-opened.DirSyncs, "directory syncs")
				assert.Equal(t, want.Writes-before.Writes, got.Writes-opened.Writes, "writes")
				assert.Equal(t, want.BytesWritten-before.BytesWritten, got.BytesWritten-opened.BytesWritten, "bytes written")
			})
		}
	}
}
