package clustertest

import (
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// TestMemSnapshotStore_publishedOnClose: a snapshot being written is not
// the latest until its sink closes (raft.InmemSnapshotStore made it the
// latest at Create, so a leader sent a follower half a snapshot, and
// -race saw the write and the read), and a canceled one never is.
func TestMemSnapshotStore_publishedOnClose(t *testing.T) {
	s := NewStores().Snap
	list, err := s.List()
	require.NoError(t, err)
	require.Empty(t, list)

	first, err := s.Create(1, 10, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	_, err = first.Write([]byte("first"))
	require.NoError(t, err)
	list, err = s.List()
	require.NoError(t, err)
	require.Empty(t, list, "a snapshot being written is listed")
	require.NoError(t, first.Close())

	second, err := s.Create(1, 20, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	_, err = second.Write([]byte("half"))
	require.NoError(t, err)
	list, err = s.List()
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, uint64(10), list[0].Index, "the latest must stay the complete one")
	meta, rc, err := s.Open(list[0].ID)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "first", string(b))
	require.Equal(t, int64(5), meta.Size)
	require.NoError(t, second.Cancel())
	_, err = second.Write([]byte("more"))
	require.Error(t, err)

	list, err = s.List()
	require.NoError(t, err)
	require.Equal(t, uint64(10), list[0].Index, "a canceled snapshot became the latest")

	third, err := s.Create(1, 30, 2, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	_, err = third.Write([]byte("third"))
	require.NoError(t, err)
	require.NoError(t, third.Close())
	require.NoError(t, third.Close(), "closing again must do nothing")
	list, err = s.List()
	require.NoError(t, err)
	require.Equal(t, uint64(30), list[0].Index)
	_, rc, err = s.Open(third.ID())
	require.NoError(t, err)
	b, err = io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "third", string(b))
}
