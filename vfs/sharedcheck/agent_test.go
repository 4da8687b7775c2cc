package sharedcheck_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// remote serves dir through an agent on loopback and returns the peer's
// view of it; the session ends at cleanup.
func remote(tb testing.TB, dir string) *sharedcheck.RemoteFS {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sharedcheck.ServeAgent(ctx, ln, vfs.OS(dir)) }()
	r, err := sharedcheck.DialAgent(ctx, ln.Addr().String())
	require.NoError(tb, err)
	tb.Cleanup(func() {
		r.Close()
		require.NoError(tb, <-done)
		cancel()
	})
	return r
}

// TestRemoteFS_conformance: a directory served by an agent, seen through
// the peer's RemoteFS, passes the vfs conformance suite (its answers and
// error kinds are the agent's FS's).
func TestRemoteFS_conformance(t *testing.T) {
	vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return remote(tb, tb.TempDir()) })
}

// TestCheck_agent: Check with a local view and an agent's view of the same
// directory passes; the agent's session ends with the peer's.
func TestCheck_agent(t *testing.T) {
	dir := t.TempDir()
	rep, err := sharedcheck.Check(context.Background(), []vfs.FS{vfs.OS(dir), remote(t, dir)}, sharedcheck.Options{Tries: 30, MetaTries: 10, FileSize: 1 << 20})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%s", rep)
}

// TestServeAgent_noPeer: an agent that no peer reaches returns when its
// context ends.
func TestServeAgent_noPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, sharedcheck.ServeAgent(ctx, ln, vfs.OS(t.TempDir())), context.Canceled)
}
