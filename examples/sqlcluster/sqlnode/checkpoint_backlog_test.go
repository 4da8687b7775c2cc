package sqlnode

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNode_checkpointBacklog: with the background checkpointer stalled
// (manual mode, never run), the WAL still stays within backlogFactor
// times the threshold: past it, commits checkpoint themselves. Without the
// bound the WAL of this run grows to every frame written (~1,000 pages).
func TestNode_checkpointBacklog(t *testing.T) {
	const threshold = 8
	path := filepath.Join(t.TempDir(), "db.sqlite")
	n := openTestNode(t, Options{Path: path, WALAutoCheckpoint: threshold, manualCheckpoint: true})
	mustApply(t, n, 1, command(t, "CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)"))
	const pageSize = 4096
	for i := uint64(2); i < 500; i++ {
		// Two pages per entry: a row of 3 KiB and its b-tree page.
		mustApply(t, n, i, command(t, fmt.Sprintf("INSERT INTO t VALUES(%d, randomblob(3000))", i)))
	}
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	frames := (fi.Size() - 32) / (pageSize + 24)
	st := n.CheckpointStats()
	t.Logf("WAL high-water %d frames; %d inline checkpoints, %d background runs", frames, st.Inline, st.Runs)
	require.NotZero(t, st.Inline, "no commit checkpointed itself")
	require.Zero(t, st.Runs, "the stalled goroutine ran")
	// The bound, plus the frames of the commit that crossed it.
	require.LessOrEqual(t, frames, int64(backlogFactor*threshold+8))
}
