package sqlitevfs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// walShared is the connection config of WAL with a shared-memory index.
var walShared = sqlitevfs.Config{JournalMode: "WAL", Synchronous: "NORMAL"}

// shmFiles lists the WAL index files in dir.
func shmFiles(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestSharedMemory_snapshotBesideWriter: with WithSharedMemory, WAL runs
// in NORMAL locking mode, a reader's transaction keeps its snapshot while
// another connection commits (no SQLITE_BUSY either way), and the index
// lives in the node-local directory only while a connection is open.
func TestSharedMemory_snapshotBesideWriter(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		dir := t.TempDir()
		name := register(t, fsys, sqlitevfs.WithSharedMemory(dir))
		w, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", walShared)
		require.NoError(t, err)
		exec(t, w, "CREATE TABLE c(id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO c VALUES(1, 0)")
		r, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", walShared)
		require.NoError(t, err)
		require.Len(t, shmFiles(t, dir), 1, "one index for both connections")

		exec(t, r, "BEGIN")
		require.Equal(t, int64(0), queryInt(t, r, "SELECT n FROM c"))
		for i := 1; i <= 3; i++ {
			exec(t, w, fmt.Sprintf("UPDATE c SET n = %d", i)) // commits beside the open read
		}
		require.Equal(t, int64(0), queryInt(t, r, "SELECT n FROM c"), "the reader keeps its snapshot")
		exec(t, r, "COMMIT")
		require.Equal(t, int64(3), queryInt(t, r, "SELECT n FROM c"))
		integrityOK(t, r)

		require.NoError(t, r.Close())
		require.NoError(t, w.Close())
		require.Empty(t, shmFiles(t, dir), "the index is dropped with the last connection")
		_, err = fsys.Stat("main.db-shm")
		require.ErrorIs(t, err, os.ErrNotExist, "no index on the FS itself")
	})
}

// TestSharedMemory_staleIndexNeverUsed: an index belongs to one FS value
// and one run of open connections. Two views with the same database name
// (a node's old and new view across a reset) never share one, even while
// connections on both are open; and a reopening after every connection
// closed starts a new index even if the content changed meanwhile.
func TestSharedMemory_staleIndexNeverUsed(t *testing.T) {
	dir := t.TempDir()
	fsA, fsB := vfs.NewMem(), vfs.NewMem()
	nameA := register(t, fsA, sqlitevfs.WithSharedMemory(dir))
	nameB := register(t, fsB, sqlitevfs.WithSharedMemory(dir))
	a := openConn(t, nameA, "main.db", walShared)
	exec(t, a, "CREATE TABLE t(x TEXT)")
	for i := range 20 {
		exec(t, a, fmt.Sprintf("INSERT INTO t VALUES('a%d')", i))
	}
	b := openConn(t, nameB, "main.db", walShared)
	exec(t, b, "CREATE TABLE t(x TEXT); CREATE TABLE only_b(y)")
	exec(t, b, "INSERT INTO t VALUES('b0')")
	require.Len(t, shmFiles(t, dir), 2)
	require.Equal(t, []string{"a0", "a1"}, queryRows(t, a, "SELECT x FROM t ORDER BY rowid LIMIT 2"))
	require.Equal(t, []string{"b0"}, queryRows(t, b, "SELECT x FROM t"))
	require.Equal(t, int64(20), queryInt(t, a, "SELECT count(*) FROM t"))
	integrityOK(t, a)
	integrityOK(t, b)

	// Same FS value, content changed while no connection was open: the
	// WAL is replaced by another one (as a copier reset replaces the
	// view's files), and the new connection must read it, not an index
	// of the old.
	a2 := openConn(t, nameA, "main.db", walShared)
	old := shmFiles(t, dir)
	require.NoError(t, a2.Close())
	require.NoError(t, a.Close())
	exec(t, b, "PRAGMA wal_checkpoint(TRUNCATE)")
	for i := range 5 {
		exec(t, b, fmt.Sprintf("INSERT INTO t VALUES('b%d')", i+1))
	}
	for _, f := range []string{"main.db", "main.db-wal"} {
		data, err := vfs.ReadFile(fsB, f)
		require.NoError(t, err)
		require.NoError(t, vfs.WriteFile(fsA, f, data, 0o644))
	}
	a3 := openConn(t, nameA, "main.db", walShared)
	require.NotEqual(t, old, shmFiles(t, dir), "a new index file")
	require.Equal(t, queryRows(t, b, "SELECT x FROM t ORDER BY rowid"), queryRows(t, a3, "SELECT x FROM t ORDER BY rowid"))
	integrityOK(t, a3)
}

// TestSharedMemory_registrationsAgree: registrations of one FS value
// share one index, so they must agree on the directory.
func TestSharedMemory_registrationsAgree(t *testing.T) {
	fsys := vfs.NewMem()
	register(t, fsys, sqlitevfs.WithSharedMemory(t.TempDir()))
	err := sqlitevfs.Register("shm-disagree", fsys)
	require.ErrorIs(t, err, sqlitevfs.ErrSharedMemory)
	require.ErrorIs(t, sqlitevfs.Register("shm-empty", vfs.NewMem(), sqlitevfs.WithSharedMemory("")), os.ErrInvalid)
	// Without shared memory, WAL still needs EXCLUSIVE locking.
	plain := register(t, vfs.NewMem())
	_, err = sqlitevfs.OpenConn(context.Background(), plain, "main.db", walShared)
	require.ErrorIs(t, err, sqlitevfs.ErrWALNeedsExclusive)
}

// TestSharedMemory_readersBesideApplier runs an applier and readers on a
// cow writer view and on a copier view of the same shared storage, each
// node with its own node-local index directory. The applier moves money
// between accounts (the total never changes) and counts its transactions,
// with checkpoints now and then (and so WAL restarts); readers check in
// every snapshot that the total holds and that the count never goes back.
// Then the copier's readers stop, it is reset and reopened (a new index),
// and its readers run again; then the writer stops and the copier is
// promoted while its readers keep reading, and goes on applying as the
// writer.
func TestSharedMemory_readersBesideApplier(t *testing.T) {
	ctx := context.Background()
	const accounts, total = 10, 1000
	shared := vfs.NewMem()
	cv, err := cow.NewCopier(shared, cow.Options{})
	require.NoError(t, err)
	wv, err := cow.NewWriter(shared, cow.NewDirect(cv), cow.Options{})
	require.NoError(t, err)
	wName := register(t, wv, sqlitevfs.WithSharedMemory(filepath.Join(t.TempDir(), "w")))
	cDir := filepath.Join(t.TempDir(), "c")
	cName := register(t, cv, sqlitevfs.WithSharedMemory(cDir))

	schema := fmt.Sprintf(`CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL);
		CREATE TABLE seq(n INTEGER NOT NULL); INSERT INTO seq VALUES(0);
		WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k+1 FROM i WHERE k < %d)
		INSERT INTO acct SELECT k, %d FROM i;`, accounts, total/accounts)
	wApp := openConn(t, wName, "main.db", walShared)
	cApp, err := sqlitevfs.OpenConn(ctx, cName, "main.db", walShared)
	require.NoError(t, err)
	exec(t, wApp, schema)
	exec(t, cApp, schema)

	step := 0
	// apply runs the next n transactions on every applier given.
	apply := func(n int, apps ...*sqlite3.Conn) {
		for range n {
			step++
			from, to, amt := step%accounts+1, (step*7)%accounts+1, step%13+1
			sql := fmt.Sprintf("BEGIN; UPDATE acct SET bal = bal - %d WHERE id = %d; UPDATE acct SET bal = bal + %d WHERE id = %d; UPDATE seq SET n = n + 1; COMMIT",
				amt, from, amt, to)
			for _, c := range apps {
				exec(t, c, sql)
				if step%25 == 0 {
					exec(t, c, "PRAGMA wal_checkpoint(PASSIVE)")
				}
			}
		}
	}
	// readers starts k readers on name; stop waits for them and returns
	// how many snapshots they checked.
	readers := func(name string, k int) (stop func() int) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		checked := 0
		errs := make(chan error, k)
		for range k {
			conn, err := sqlitevfs.OpenConn(ctx, name, "main.db", walShared)
			require.NoError(t, err)
			wg.Go(func() {
				defer conn.Close()
				last := int64(-1)
				for i := 0; i < 100000; i++ { // bounded; stops when done closes
					select {
					case <-done:
						return
					default:
					}
					rows, err := queryRowsErr(conn, "SELECT (SELECT sum(bal) FROM acct), (SELECT n FROM seq)")
					if err != nil {
						errs <- fmt.Errorf("%s reader: %w (cause %v)", name, err, sqlitevfs.LastIOError(conn))
						return
					}
					var sum, n int64
					if _, err := fmt.Sscanf(strings.ReplaceAll(rows[0], "|", " "), "%d %d", &sum, &n); err != nil {
						errs <- err
						return
					}
					if sum != total || n < last {
						errs <- fmt.Errorf("%s reader: snapshot with total %d (want %d), count %d after %d", name, sum, total, n, last)
						return
					}
					last = n
					mu.Lock()
					checked++
					mu.Unlock()
				}
			})
		}
		return func() int {
			close(done)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			return checked
		}
	}

	stopW, stopC := readers(wName, 2), readers(cName, 2)
	apply(150, wApp, cApp)
	t.Logf("writer readers checked %d snapshots, copier readers %d", stopW(), stopC())
	require.Equal(t, queryRows(t, wApp, "SELECT * FROM acct"), queryRows(t, cApp, "SELECT * FROM acct"))

	// Copier reset: every connection closes, the overlay goes, the
	// copier reopens on shared storage as the writer left it.
	require.NoError(t, cApp.Close())
	require.Empty(t, shmFiles(t, cDir))
	require.NoError(t, cv.Reset(ctx, wv))
	cApp, err = sqlitevfs.OpenConn(ctx, cName, "main.db", walShared)
	require.NoError(t, err)
	defer func() { require.NoError(t, cApp.Close()) }()
	integrityOK(t, cApp)
	require.Equal(t, queryRows(t, wApp, "SELECT * FROM acct, seq"), queryRows(t, cApp, "SELECT * FROM acct, seq"))

	stopC = readers(cName, 2)
	apply(100, wApp, cApp)
	// The writer goes; the copier is promoted while its readers read.
	require.NoError(t, wApp.Close())
	require.NoError(t, cv.Promote(ctx, cow.NewDirect()))
	apply(100, cApp)
	t.Logf("copier readers checked %d snapshots across reset and promotion", stopC())
	integrityOK(t, cApp)
	require.Equal(t, int64(step), queryInt(t, cApp, "SELECT n FROM seq"))
	require.NoError(t, wv.Check())
	require.NoError(t, cv.Check())
}
