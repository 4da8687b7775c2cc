package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRun runs the demo small: every write acknowledged is on every node,
// no node diverges, the failover was measured.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := run(ctx, 400, 4, t.Logf)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Equal(t, 3, res.Nodes)
	require.Positive(t, res.Acked)
	require.Zero(t, res.Lost)
	require.Empty(t, res.Diverged)
	require.Positive(t, res.FailoverMS)
	require.Positive(t, res.SharedBytes)
	require.Len(t, res.OverlayBytes, 3)
}
