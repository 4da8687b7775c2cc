package kv

import (
	"context"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"
)

// RequireAgree (for this package's tests, internal and external) waits
// until every live member of c applied index last and checks that each
// holds exactly want, with Pebble's checks passing; stage names the
// moment in failure messages.
func RequireAgree(t *testing.T, ctx context.Context, c *Cluster, want map[string]string, last uint64, stage string) {
	t.Helper()
	require.NoError(t, c.WaitApplied(ctx, last), stage)
	for _, m := range c.Live() {
		kvs, _, err := m.Engine.Scan(nil, nil, 0)
		require.NoError(t, err, "%s: %s", stage, m.ID)
		got := make(map[string]string, len(kvs))
		for _, p := range kvs {
			got[string(p.Key)] = string(p.Value)
		}
		require.True(t, maps.Equal(want, got), "%s: %s diverged: %d keys, want %d", stage, m.ID, len(got), len(want))
		require.NoError(t, m.Engine.Check(), "%s: %s", stage, m.ID)
	}
}
