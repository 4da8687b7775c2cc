package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStaleSegments: the segments that hold only entries before the log's
// first index count, the one holding it and those after do not; other
// files are ignored.
func TestStaleSegments(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"00000000000000000001-0000000000000000.wal", "00000000000000005108-000000000000000a.wal",
		"00000000000000005200-000000000000000b.wal", "00000000000000005300-000000000000000c.wal", "wal-meta.db"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), make([]byte, 8192), 0o600))
	}
	for _, c := range []struct {
		first uint64
		want  int
	}{{1, 0}, {5107, 0}, {5108, 1}, {5250, 2}, {5300, 3}, {9999, 3}} {
		n, b, err := staleSegments(dir, c.first)
		require.NoError(t, err)
		require.Equal(t, c.want, n, "first %d", c.first)
		require.Equal(t, n > 0, b > 0, "first %d: %d bytes", c.first, b)
	}
}
