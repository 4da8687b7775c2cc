package replica_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
	"github.com/holeycow/holeycow/vfs"
)

// nullDB applies nothing: it only records the index, so that the
// benchmark measures the replica's own cost per entry.
type nullDB struct{ applied uint64 }

func (d *nullDB) Applied() (uint64, error) { return d.applied, nil }
func (d *nullDB) Apply(es []replica.Entry) error {
	d.applied = es[len(es)-1].Index
	return nil
}
func (d *nullDB) Sync() error  { return nil }
func (d *nullDB) Close() error { return nil }

// BenchmarkReplica_apply measures the replica's cost per entry on an
// engine that does nothing (framing, decoding, batching, the apply lock),
// against calling the engine directly, in batches of 16.
func BenchmarkReplica_apply(b *testing.B) {
	const batch = 16
	cmd := replica.EncodeCommand([]byte("k+1"))
	b.Run("path=direct", func(b *testing.B) {
		db := &nullDB{}
		idx := uint64(0)
		for b.Loop() {
			es := make([]replica.Entry, batch)
			for j := range es {
				idx++
				es[j] = replica.Entry{Index: idx, Data: cmd[1:]}
			}
			require.NoError(b, db.Apply(es))
		}
	})
	b.Run("path=replica", func(b *testing.B) {
		lg := replicatest.NewLog()
		r := replica.New(replica.Config[*nullDB]{Engine: replica.EngineFunc[*nullDB](func(vfs.FS) (*nullDB, error) { return &nullDB{}, nil })})
		defer r.Shutdown()
		r.SetLog(lg)
		require.NoError(b, r.Open(context.Background(), vfs.NewMem()))
		es := make([]replica.Entry, batch)
		idx := uint64(0)
		for b.Loop() {
			for j := range es {
				idx++
				es[j] = replica.Entry{Index: idx, Data: cmd}
			}
			r.Apply(es)
		}
	})
}
