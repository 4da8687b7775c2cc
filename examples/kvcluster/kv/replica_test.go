package kv_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster/replica/replicatest"
)

// TestReplicaEngine_replicatest runs the replica conformance suite on the
// Pebble adapter. Its commands are puts and deletes (idempotent): the
// suite checks crash prefixes and determinism, not double application.
func TestReplicaEngine_replicatest(t *testing.T) {
	replicatest.Run(t, replicatest.Subject[*kv.ReplicaDB]{
		Engine: kv.ReplicaEngine{},
		Command: func(i uint64) []byte {
			ops := []kv.Op{kv.Put(fmt.Appendf(nil, "k%d", i%5), fmt.Appendf(nil, "v%d", i))}
			if i%4 == 0 {
				ops = append(ops, kv.Delete(fmt.Appendf(nil, "k%d", (i+2)%5)))
			}
			b, err := kv.Encode(ops)
			require.NoError(t, err)
			return b
		},
		State: func(db *kv.ReplicaDB) ([]byte, error) {
			kvs, err := db.Scan()
			var buf bytes.Buffer
			for _, p := range kvs {
				fmt.Fprintf(&buf, "%q=%q;", p.Key, p.Value)
			}
			return buf.Bytes(), err
		},
		Entries: 40,
	})
}
