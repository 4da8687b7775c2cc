package kv_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/examples/kvcluster/kv"
)

func TestEncode_roundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) kv.Op {
			key := rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, "key")
			if rapid.Bool().Draw(t, "delete") {
				return kv.Delete(key)
			}
			return kv.Put(key, rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "value"))
		}), 1, 10).Draw(t, "ops")
		b, err := kv.Encode(ops)
		require.NoError(t, err)
		got, err := kv.Decode(b)
		require.NoError(t, err)
		require.Len(t, got, len(ops))
		for i := range ops {
			require.Equal(t, ops[i].Kind, got[i].Kind)
			require.Equal(t, string(ops[i].Key), string(got[i].Key))
			require.Equal(t, string(ops[i].Value), string(got[i].Value))
		}
	})
}

func TestEncode_refuses(t *testing.T) {
	for name, ops := range map[string][]kv.Op{
		"empty batch": nil,
		"empty key":   {kv.Put(nil, []byte("v"))},
		"long key":    {kv.Put(make([]byte, kv.MaxKeyLen+1), nil)},
		"bad kind":    {{Kind: 9, Key: []byte("k")}},
		"delete+val":  {{Kind: kv.OpDelete, Key: []byte("k"), Value: []byte("v")}},
	} {
		_, err := kv.Encode(ops)
		require.ErrorIs(t, err, kv.ErrBadOp, name)
	}
	for _, b := range [][]byte{nil, {2}, {1, 1, 5, 'a'}, {1}} {
		_, err := kv.Decode(b)
		require.ErrorIs(t, err, kv.ErrBadCommand, "%q", b)
	}
}
