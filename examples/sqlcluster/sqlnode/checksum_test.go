package sqlnode

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestNode_Checksum_sameAfterVacuum(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	pathA, pathB := filepath.Join(dirA, "db"), filepath.Join(dirB, "db")
	a := openTestNode(t, Options{Path: pathA})
	b, err := Open(Options{Path: pathB})
	if err != nil {
		t.Fatal(err)
	}
	log := genLog(t, rand.New(rand.NewPCG(7, 7)), 60)
	applyLog(t, a, log)
	applyLog(t, b, log)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Rebuild B with another page size: every page moves.
	raw, err := sqlite3.Open(pathB)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Exec("PRAGMA page_size=1024; VACUUM"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTestNode(t, Options{Path: pathB})

	fa, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.ReadFile(pathB)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa) == len(fb) {
		t.Fatalf("files have the same size %d: the layouts may not differ", len(fa))
	}
	ca, err := a.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ca != cb {
		t.Fatalf("checksums differ after VACUUM: %v %v (files %d and %d bytes)", ca, cb, len(fa), len(fb))
	}

	// Any logical difference shows: a row value, a schema object, a row
	// in a WITHOUT ROWID table.
	next := ca.Index + 1
	for i, sql := range []string{
		"UPDATE t SET n = coalesce(n, 0) + 1 WHERE id = (SELECT min(id) FROM t)",
		"CREATE INDEX t_v ON t(v)",
		"UPDATE u SET n = n * 2 WHERE k = (SELECT min(k) FROM u)",
	} {
		r := mustApply(t, a, next, command(t, sql))
		if r.RolledBack || r.Results[0].Error != "" || strings.HasPrefix(sql, "UPDATE") && r.Results[0].RowsAffected != 1 {
			t.Fatalf("%s: %+v", sql, r)
		}
		mustApply(t, b, next, command(t, "SELECT 1"))
		ca, err = a.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cb, err = b.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ca.Index != cb.Index || ca.Sum == cb.Sum {
			t.Errorf("change %d (%s) not detected: %v %v", i, sql, ca, cb)
		}
		mustApply(t, b, next+1, command(t, sql))
		mustApply(t, a, next+1, command(t, "SELECT 1"))
		next += 2
	}
}
