package leveldbstore_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/holeycow/holeycow/examples/leveldbstore"
	"github.com/holeycow/holeycow/vfs"
)

func TestStorage_meta(t *testing.T) {
	mem := vfs.NewMem()
	st, err := leveldbstore.New(mem, "db")
	require.NoError(t, err)
	defer st.Close()

	_, err = st.GetMeta()
	require.True(t, os.IsNotExist(err), "%v", err)
	m := storage.FileDesc{Type: storage.TypeManifest, Num: 3}
	require.NoError(t, st.SetMeta(m))
	_, err = st.GetMeta()
	require.True(t, os.IsNotExist(err), "CURRENT names a missing manifest: %v", err)

	w, err := st.Create(m)
	require.NoError(t, err)
	_, err = w.Write([]byte("manifest"))
	require.NoError(t, err)
	require.NoError(t, w.Sync())
	require.NoError(t, w.Close())
	got, err := st.GetMeta()
	require.NoError(t, err)
	require.Equal(t, m, got)

	// CURRENT and the manifest survive a crash that keeps nothing unsynced.
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	st2, err := leveldbstore.New(crashed, "db")
	require.NoError(t, err)
	got, err = st2.GetMeta()
	require.NoError(t, err)
	require.Equal(t, m, got)
	require.NoError(t, st2.Close())

	require.NoError(t, vfs.WriteFile(mem, "db/CURRENT", []byte("junk"), 0o644))
	_, err = st.GetMeta()
	var corrupted *storage.ErrCorrupted
	require.ErrorAs(t, err, &corrupted)
	require.ErrorIs(t, corrupted.Err, leveldbstore.ErrBadCurrent)
	require.ErrorIs(t, st.SetMeta(storage.FileDesc{Type: 99}), storage.ErrInvalidFile)
}

func TestStorage_files(t *testing.T) {
	st, err := leveldbstore.New(vfs.NewMem(), "db")
	require.NoError(t, err)
	fds := []storage.FileDesc{
		{Type: storage.TypeManifest, Num: 1},
		{Type: storage.TypeJournal, Num: 2},
		{Type: storage.TypeTable, Num: 3},
		{Type: storage.TypeTemp, Num: 4},
	}
	for _, fd := range fds {
		w, err := st.Create(fd)
		require.NoError(t, err)
		_, err = w.Write([]byte("0123456789"))
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	all, err := st.List(storage.TypeAll)
	require.NoError(t, err)
	require.ElementsMatch(t, fds, all)
	tables, err := st.List(storage.TypeTable | storage.TypeJournal)
	require.NoError(t, err)
	require.ElementsMatch(t, fds[1:3], tables)

	r, err := st.Open(fds[2])
	require.NoError(t, err)
	pos, err := r.Seek(-3, io.SeekEnd)
	require.NoError(t, err)
	require.Equal(t, int64(7), pos)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "789", string(rest))
	_, err = r.Seek(-1, io.SeekStart)
	require.ErrorIs(t, err, leveldbstore.ErrSeek)
	require.NoError(t, r.Close())

	moved := storage.FileDesc{Type: storage.TypeTable, Num: 9}
	require.NoError(t, st.Rename(fds[3], moved))
	require.NoError(t, st.Remove(fds[1]))
	_, err = st.Open(fds[1])
	require.True(t, errors.Is(err, fs.ErrNotExist) && os.IsNotExist(err))

	l, err := st.Lock()
	require.NoError(t, err)
	_, err = st.Lock()
	require.ErrorIs(t, err, storage.ErrLocked)
	l.Unlock()

	require.NoError(t, st.Close())
	require.NoError(t, st.Close())
	_, err = st.List(storage.TypeAll)
	require.ErrorIs(t, err, storage.ErrClosed)
}

// TestNew_locks checks that two Storages cannot share a directory of one
// FS, and that Close releases it.
func TestNew_locks(t *testing.T) {
	mem := vfs.NewMem()
	st, err := leveldbstore.New(mem, "db")
	require.NoError(t, err)
	_, err = leveldbstore.New(mem, "db")
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, st.Close())
	st, err = leveldbstore.New(mem, "db")
	require.NoError(t, err)
	require.NoError(t, st.Close())
}
