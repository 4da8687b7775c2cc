package sqlnode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
)

// TestNode_readsOnInvalidatedCopier: a copier view whose lease lapsed
// refuses reads (invariant 7). Query and Checksum (on read connections)
// and Check (on the apply connection) report the refusal as what it is
// (cow.ErrInvalidated and its cause, which SQLite alone reports as "disk
// I/O error"). TRUNCATE journal, as the cluster runs: every read
// transaction reads the file header. (With WAL or ExclusiveLocking, SQLite
// may answer from its page cache, which holds what the view showed before
// the refusal.)
func TestNode_readsOnInvalidatedCopier(t *testing.T) {
	v, err := cow.NewCopier(vfs.NewMem(), cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(Options{VFS: registerFS(t, v), Path: "main.db", JournalMode: "TRUNCATE", Synchronous: "FULL"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	applyOK(t, n, 1, command(t, "CREATE TABLE t(x)", "INSERT INTO t VALUES(1)"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A read before the refusal: the read connection is open and cached.
	if _, err := n.Query(ctx, []Statement{{SQL: "SELECT count(*) FROM t"}}); err != nil {
		t.Fatal(err)
	}

	lapsed := errors.New("test: lease lapsed")
	v.Invalidate(lapsed)
	_, err = n.Query(ctx, []Statement{{SQL: "SELECT count(*) FROM t"}})
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "query on an invalidated copier: %v", err)
	_, err = n.Checksum(ctx)
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "checksum on an invalidated copier: %v", err)
	err = n.Check()
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "check on an invalidated copier: %v", err)
	t.Logf("reported as: %v", err)
}
