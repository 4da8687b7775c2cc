package vfs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
)

func TestTreeSize(t *testing.T) {
	m := vfs.NewMem()
	write := func(name string, n int) {
		t.Helper()
		f, err := m.Open(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(make([]byte, n), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MkdirAll("a/b", 0o700); err != nil {
		t.Fatal(err)
	}
	write("x", 10)
	write("a/y", 100)
	write("a/b/z", 1000)
	for dir, want := range map[string]int64{".": 1110, "a": 1100, "a/b": 1000} {
		if got, err := vfs.TreeSize(m, dir); err != nil || got != want {
			t.Errorf("TreeSize(%q) = %d, %v; want %d", dir, got, err, want)
		}
	}
	deep := strings.TrimSuffix(strings.Repeat("d/", 40), "/")
	if err := m.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := vfs.TreeSize(m, "."); err == nil {
		t.Error("a tree 40 deep: no error")
	}
}

// SyncTree makes every name below the root durable; with files, every
// file's content too. A crash that keeps nothing unsynced shows which.
func TestSyncTree(t *testing.T) {
	for _, files := range []bool{false, true} {
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("a/b", 0o700))
		require.NoError(t, vfs.WriteFile(m, "a/b/z", []byte("zzz"), 0o600))
		require.NoError(t, vfs.WriteFile(m, "x", []byte("x"), 0o600))
		require.NoError(t, vfs.SyncTree(m, ".", files))
		c := m.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
		for name, want := range map[string]string{"x": "x", "a/b/z": "zzz"} {
			got, err := vfs.ReadFile(c, name)
			require.NoError(t, err, "files=%v: %s lost its name", files, name)
			if files {
				require.Equal(t, want, string(got), name)
			}
		}
	}
	deep := strings.TrimSuffix(strings.Repeat("d/", 40), "/")
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll(deep, 0o700))
	require.Error(t, vfs.SyncTree(m, ".", true), "a tree 40 deep")
}
