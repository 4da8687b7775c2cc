package sqlnode

import (
	"context"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// TestNode_Query_concurrentWithApply reads while entries are applied, on
// the adapter over a MemFS with the default TRUNCATE journal: every read
// sees a committed prefix (the row count equals the applied index stored
// in the same snapshot) and counts never go back.
func TestNode_Query_concurrentWithApply(t *testing.T) {
	n := openTestNode(t, Options{VFS: registerFS(t, vfs.NewMem()), Path: "db"})
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x)"))
	const entries = 60
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(2); i <= entries; i++ {
			if _, err := n.Apply(i, command(t, "INSERT INTO t VALUES(1)")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	ctx := context.Background()
	last := int64(0)
	for i := 0; i < 1000 && last < entries-1; i++ {
		rs, err := n.Query(ctx, []Statement{{SQL: "SELECT count(*), (SELECT idx FROM _holeycow_applied) FROM t"}})
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].Error != "" {
			t.Fatal(rs[0].Error)
		}
		cnt, idx := rs[0].Values[0][0].(int64), rs[0].Values[0][1].(int64)
		if cnt != idx-1 || cnt < last {
			t.Fatalf("count %d at stored index %d (previous count %d)", cnt, idx, last)
		}
		last = cnt
		if _, err := n.Checksum(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := n.WaitApplied(ctx, entries); err != nil {
		t.Fatal(err)
	}
}
