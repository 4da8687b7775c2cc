package kv_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster/replica"
)

// TestCluster_hostileEntries: entries a buggy or hostile proposer appends
// to the log directly (no replica framing, a framed command that does not
// decode, an empty batch) change nothing on any member, and the members
// still hold exactly what was written through the API.
func TestCluster_hostileEntries(t *testing.T) {
	ctx, c := startCluster(t, kv.Options{Nodes: 3})
	want := map[string]string{"a": "1"}
	_, err := c.Write(ctx, kv.Put([]byte("a"), []byte("1")))
	require.NoError(t, err)
	unframed, err := kv.Encode([]kv.Op{kv.Put([]byte("unframed"), []byte("x"))})
	require.NoError(t, err)
	for _, data := range [][]byte{
		{},
		{0xff, 1, 2, 3},
		{'D'},
		replica.EncodeCommand([]byte{0xff, 0xff, 0xff}),
		replica.EncodeCommand(nil),
		unframed, // kv's encoding without the replica's frame
	} {
		_, _, err := c.Leader().Apply(ctx, data)
		require.NoError(t, err, "%q", data)
	}
	last, err := c.Write(ctx, kv.Put([]byte("b"), []byte("2")))
	require.NoError(t, err)
	want["b"] = "2"
	kv.RequireAgree(t, ctx, c, want, last, "after hostile entries")
}
