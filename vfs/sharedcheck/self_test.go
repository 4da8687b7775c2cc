package sharedcheck_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// TestSelfCheck_localDirectory: a local directory passes the one-mount
// self-check, and leaves nothing behind.
func TestSelfCheck_localDirectory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/mountinfo")
	}
	dir := t.TempDir()
	rep, err := sharedcheck.SelfCheck(context.Background(), dir, sharedcheck.SelfOptions{})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%s", rep)
	require.Len(t, rep.Results, 1)
	require.Equal(t, 16, rep.Results[0].Tries)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, ents)
}

// TestMountOf: the mount of a directory is the longest mount point above
// it; the root's is "/".
func TestMountOf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/mountinfo")
	}
	m, err := sharedcheck.MountOf("/")
	require.NoError(t, err)
	require.Equal(t, "/", m.Point)
	m, err = sharedcheck.MountOf("/proc/self")
	require.NoError(t, err)
	require.Equal(t, "/proc", m.Point)
	require.Equal(t, "proc", m.Type)
	require.False(t, m.Network())
	d := filepath.Join(t.TempDir(), "a")
	require.NoError(t, os.Mkdir(d, 0o700))
	m, err = sharedcheck.MountOf(d)
	require.NoError(t, err)
	require.NotEmpty(t, m.Type)
}
