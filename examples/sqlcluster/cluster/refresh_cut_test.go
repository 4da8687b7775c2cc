package cluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
)

// TestLocal_Refresh_copierCutPastLease: a refresh-mode copier cut off
// from the others (Raft and stability share the port its proxy cuts, so
// it answers neither, as a paused process would) while the writer goes
// on: the writer's stability rounds exclude it once its lease lapses,
// writes keep being acknowledged, and after the cut heals the copier
// comes back (a reset or a refresh) with every acknowledged write and
// the same database as the others.
func TestLocal_Refresh_copierCutPastLease(t *testing.T) {
	c := startTest(t, refreshOpts("WAL", "NORMAL"))
	ctx := testCtx(t, 90*time.Second)
	loadEntries(t, ctx, c, "big", 50)
	w, victim := writerAndCopier(t, ctx, c)
	if got := queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != 50 {
		t.Fatalf("copier sees %d rows before the cut, want 50", got)
	}
	resets0 := victim.Stats().Resets
	must(t, c.Partition(victim.ID()))
	cutAt := time.Now()
	// Pages rewritten in place need stability rounds: the writes complete
	// only once the writer has excluded the silent copier. (loadEntries
	// writes ids 0..n-1: 150 new rows.)
	loadEntries(t, ctx, c, "big", 200)
	mustExec(t, ctx, c, stmt("UPDATE big SET pad = 'during' WHERE id < 25"))
	t.Logf("writes acknowledged %v after the cut (writer %s)", time.Since(cutAt).Round(time.Millisecond), w.ID())
	must(t, c.Heal(victim.ID()))
	must(t, c.WaitFor(ctx, "the copier serving again, caught up", func() bool {
		st := victim.Stats()
		l, err := c.Leader(ctx)
		return err == nil && st.Ready && st.AppliedIndex >= l.Raft().CommitIndex()
	}))
	if got := queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM big"); got != 200 {
		t.Errorf("copier sees %d rows after the cut, want 200", got)
	}
	if got := queryInt(t, ctx, victim, cluster.LevelLinearizable, "SELECT count(*) FROM big WHERE pad = 'during'"); got != 25 {
		t.Errorf("copier sees %d rows updated during the cut, want 25", got)
	}
	verifySame(t, ctx, c)
	t.Logf("copier resets: %d -> %d, refreshes: %d", resets0, victim.Stats().Resets, len(victim.RefreshStats().Recent))
}
