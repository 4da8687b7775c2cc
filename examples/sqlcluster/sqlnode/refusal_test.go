package sqlnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
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
	db, err := n.ReadOnlyDB()
	require.NoError(t, err)
	defer db.Close()
	var count int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&count))

	lapsed := errors.New("test: lease lapsed")
	v.Invalidate(lapsed)
	_, err = n.Query(ctx, []Statement{{SQL: "SELECT count(*) FROM t"}})
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "query on an invalidated copier: %v", err)
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&count)
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "ReadOnlyDB query on an invalidated copier: %v", err)
	_, err = n.Checksum(ctx)
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "checksum on an invalidated copier: %v", err)
	err = n.Check()
	must(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed), "check on an invalidated copier: %v", err)
	t.Logf("reported as: %v", err)
}

// TestNode_integrityCheckOnLapsingCopier: a copier whose lease lapses
// while PRAGMA integrity_check runs (as it does on a loaded machine)
// refuses the pages that the check has yet to read and did not cache;
// SQLite reports them as result rows ("unable to get the page"), not as
// an error. Query reports the refusal (cow.ErrInvalidated and its cause)
// instead of that result, which would say that the database is corrupt.
func TestNode_integrityCheckOnLapsingCopier(t *testing.T) {
	const pageSize = 4096
	v, err := cow.NewCopier(vfs.NewMem(), cow.Options{})
	require.NoError(t, err)
	lapsed := errors.New("test: lease lapsed")
	// Armed, the storage refuses the first read of each page past the
	// 4th (the header and schema, _holeycow_applied and t's root are
	// read): the check's tree walk gets no leaf of t and reports each as
	// a row; its row scan, which follows, reads them. A lapsed view
	// refuses every read, but pages cached before are not read again;
	// with the few pages of a test database, failing once is how the
	// check gets to report rows, as it does on a large one.
	var mu sync.Mutex
	refused := map[int64]bool{}
	lapse := errorfs.NewToggle(errorfs.InjectorFunc(func(op errorfs.Op) error {
		mu.Lock()
		defer mu.Unlock()
		if op.Kind != errorfs.OpRead || !strings.HasSuffix(op.Path, "main.db") || op.Off < 4*pageSize || refused[op.Off] {
			return nil
		}
		refused[op.Off] = true
		return &fs.PathError{Op: "read", Path: op.Path, Err: fmt.Errorf("%w: %w", cow.ErrInvalidated, lapsed)}
	}))
	n, err := Open(Options{VFS: registerFS(t, errorfs.WithErrors(v, lapse)), Path: "main.db",
		JournalMode: "TRUNCATE", Synchronous: "FULL", PageSize: pageSize})
	require.NoError(t, err)
	defer n.Close()
	applyOK(t, n, 1, command(t, "CREATE TABLE t(id INTEGER PRIMARY KEY, x)",
		"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 20) INSERT INTO t(x) SELECT zeroblob(6000) FROM s"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, check := range []string{"PRAGMA integrity_check", "SELECT * FROM pragma_quick_check"} {
		rs, err := n.Query(ctx, []Statement{{SQL: check}})
		require.NoError(t, err, check)
		require.Equal(t, [][]any{{"ok"}}, rs[0].Values, check)
	}
	// A write makes the read connection drop its page cache: the next
	// checks read the pages from the storage.
	applyOK(t, n, 2, command(t, "INSERT INTO t(x) VALUES(1)"))
	for i, check := range []string{"PRAGMA integrity_check", "SELECT * FROM pragma_quick_check"} {
		mu.Lock()
		clear(refused)
		mu.Unlock()
		lapse.Arm()
		rs, err := n.Query(ctx, []Statement{{SQL: check}})
		require.Truef(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed),
			"%s on a copier that lapsed during it: %v %+v, want the refusal", check, err, rs)
		t.Logf("%s reported as: %v", check, err)
		lapse.Disarm()
		applyOK(t, n, 3+uint64(i), command(t, "INSERT INTO t(x) VALUES(1)")) // drop the cache
	}

	// The same check through ReadOnlyDB: its rows end with the refusal.
	db, err := n.ReadOnlyDB()
	require.NoError(t, err)
	defer db.Close()
	mu.Lock()
	clear(refused)
	mu.Unlock()
	lapse.Arm()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		got = append(got, s)
	}
	err = rows.Err()
	rows.Close()
	require.Truef(t, errors.Is(err, cow.ErrInvalidated) && errors.Is(err, lapsed),
		"ReadOnlyDB integrity_check on a copier that lapsed during it: %v %q, want the refusal", err, got)
	t.Logf("ReadOnlyDB: %d rows, then %v", len(got), err)
}
