package sqlitevfs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/ncruces/go-sqlite3"
)

func TestOpenConn_createInsertSelect(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		exec(t, conn, "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)")
		exec(t, conn, "INSERT INTO t(b) VALUES ('x'),('y'),('z')")
		exec(t, conn, "UPDATE t SET b = b || b WHERE a = 2")
		exec(t, conn, "DELETE FROM t WHERE a = 3")
		got := queryRows(t, conn, "SELECT a, b FROM t ORDER BY a")
		if want := []string{"1|x", "2|yy"}; !slices.Equal(got, want) {
			t.Fatalf("rows %q, want %q", got, want)
		}
		integrityOK(t, conn)
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}

		// The data is in the FS, under the name given: a second connection
		// sees it.
		if _, err := fsys.Stat("main.db"); err != nil {
			t.Fatal(err)
		}
		conn2 := openConn(t, name, "main.db", sqlitevfs.Config{})
		if got := queryInt(t, conn2, "SELECT count(*) FROM t"); got != 2 {
			t.Fatalf("count %d after reopen, want 2", got)
		}
	})
}

func TestOpenConn_rollback(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		// A tiny page cache makes SQLite write changed pages to the
		// database before the transaction ends, so that ROLLBACK has to
		// play the journal back.
		exec(t, conn, "PRAGMA cache_size=2")
		exec(t, conn, "CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB)")
		exec(t, conn, "INSERT INTO t(b) SELECT randomblob(300) FROM generate_series(1, 200)")
		before := queryRows(t, conn, "SELECT a, hex(b) FROM t ORDER BY a")
		size0 := fileSize(t, fsys, "main.db")

		exec(t, conn, "BEGIN")
		exec(t, conn, "UPDATE t SET b = randomblob(500)")
		exec(t, conn, "INSERT INTO t(b) SELECT randomblob(300) FROM generate_series(1, 500)")
		exec(t, conn, "DELETE FROM t WHERE a % 3 = 0")
		if n := queryInt(t, conn, "SELECT count(*) FROM t"); n == 200 {
			t.Fatal("transaction had no effect")
		}
		if fileSize(t, fsys, "main.db-journal") == 0 {
			t.Fatal("journal empty during a transaction")
		}
		exec(t, conn, "ROLLBACK")

		if after := queryRows(t, conn, "SELECT a, hex(b) FROM t ORDER BY a"); !slices.Equal(before, after) {
			t.Fatal("rollback did not restore the rows")
		}
		integrityOK(t, conn)

		// A savepoint rolled back inside a committed transaction.
		exec(t, conn, "BEGIN")
		exec(t, conn, "INSERT INTO t(b) VALUES (x'01')")
		exec(t, conn, "SAVEPOINT s")
		exec(t, conn, "DELETE FROM t")
		exec(t, conn, "ROLLBACK TO s")
		exec(t, conn, "COMMIT")
		if n := queryInt(t, conn, "SELECT count(*) FROM t"); n != 201 {
			t.Fatalf("count %d, want 201", n)
		}
		integrityOK(t, conn)
		if fileSize(t, fsys, "main.db") < size0 {
			t.Fatal("database shrank")
		}
	})
}

func fileSize(t testing.TB, fsys vfs.FS, name string) int64 {
	t.Helper()
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestOpenConn_journalModes checks what each journal mode leaves on the FS
// after a commit, and that temp files never reach it.
func TestOpenConn_journalModes(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		journal bool // a journal file exists after commit
	}{
		{"", true}, // TRUNCATE: kept, empty
		{"TRUNCATE", true},
		{"PERSIST", true},
		{"DELETE", false},
		{"MEMORY", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			fsys := vfs.NewMem()
			name := register(t, fsys)
			conn := openConn(t, name, "main.db", sqlitevfs.Config{JournalMode: tc.mode})
			exec(t, conn, "CREATE TABLE t(a)")
			exec(t, conn, "INSERT INTO t SELECT value FROM generate_series(1, 1000)")
			// Temp tables and a sort that spills use temp files.
			exec(t, conn, "PRAGMA temp_store=FILE")
			exec(t, conn, "CREATE TEMP TABLE tt AS SELECT a, randomblob(100) FROM t")
			if n := queryInt(t, conn, "SELECT count(*) FROM (SELECT * FROM tt ORDER BY 2)"); n != 1000 {
				t.Fatal(n)
			}
			names, err := fsys.List(".")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"main.db"}
			if tc.journal {
				want = append(want, "main.db-journal")
			}
			if !slices.Equal(names, want) {
				t.Fatalf("files %q, want %q", names, want)
			}
			if tc.journal && strings.EqualFold(tc.mode, "TRUNCATE") || tc.mode == "" {
				if n := fileSize(t, fsys, "main.db-journal"); n != 0 {
					t.Fatalf("journal size %d after commit in TRUNCATE mode", n)
				}
			}
		})
	}
}

// TestOpenConn_names checks the mapping of SQLite's names to vfs paths.
func TestOpenConn_names(t *testing.T) {
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll("sub/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	name := register(t, fsys)
	for _, tc := range []struct{ uri, path string }{
		{"file:sub/dir/a.db?vfs=" + name, "sub/dir/a.db"},
		{"file:/b.db?vfs=" + name, "b.db"},
		{"file:///c.db?vfs=" + name, "c.db"},
		{"file:sub/../d.db?vfs=" + name, "d.db"},
		{"file:sub/./dir/e%20f.db?vfs=" + name, "sub/dir/e f.db"},
	} {
		conn, err := sqlite3.Open(tc.uri)
		if err != nil {
			t.Fatalf("%s: %v", tc.uri, err)
		}
		err = conn.Exec("CREATE TABLE t(a)")
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.uri, err)
		}
		if _, err := fsys.Stat(tc.path); err != nil {
			t.Errorf("%s: %v", tc.uri, err)
		}
	}
	for _, uri := range []string{
		"file:../x.db?vfs=" + name,
		"file:sub/../../x.db?vfs=" + name,
		"file:missing/x.db?vfs=" + name,
		"file:sub?vfs=" + name,
	} {
		conn, err := sqlite3.Open(uri)
		if err == nil {
			err = conn.Exec("CREATE TABLE t(a)")
			conn.Close()
		}
		if !errors.Is(err, sqlite3.CANTOPEN) {
			t.Errorf("%s: got %v, want CANTOPEN", uri, err)
		}
	}
	if _, err := (sqlitevfs.Config{}).URI(name, "../x.db"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("URI(../x.db): %v", err)
	}
}

func TestRegister_errors(t *testing.T) {
	fsys := vfs.NewMem()
	for _, n := range []string{"", "os"} {
		if err := sqlitevfs.Register(n, fsys); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Register(%q): %v", n, err)
		}
	}
	if err := sqlitevfs.Register("x-nil", nil); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Register(nil FS): %v", err)
	}
	if err := sqlitevfs.Register("x-bad", fsys, sqlitevfs.WithPageSize(1000)); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("WithPageSize(1000): %v", err)
	}
	name := register(t, fsys)
	if err := sqlitevfs.Register(name, fsys); !errors.Is(err, sqlitevfs.ErrNameTaken) {
		t.Errorf("second Register: %v", err)
	}
	if err := sqlitevfs.Unregister("never-registered"); !errors.Is(err, sqlitevfs.ErrNotRegistered) {
		t.Errorf("Unregister unknown: %v", err)
	}
	if err := sqlitevfs.Check("never-registered"); !errors.Is(err, sqlitevfs.ErrNotRegistered) {
		t.Errorf("Check unknown: %v", err)
	}
}

func TestUnregister_inUse(t *testing.T) {
	fsys := vfs.NewMem()
	name := "unregister-in-use"
	if err := sqlitevfs.Register(name, fsys); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", sqlitevfs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitevfs.Unregister(name); !errors.Is(err, sqlitevfs.ErrInUse) {
		t.Fatalf("Unregister with an open conn: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sqlitevfs.Check(name); err != nil {
		t.Fatal(err)
	}
	if err := sqlitevfs.Unregister(name); err != nil {
		t.Fatal(err)
	}
	// The name is free again, and SQLite no longer finds it.
	if _, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", sqlitevfs.Config{}); err == nil {
		t.Fatal("open on an unregistered name succeeded")
	}
	if err := sqlitevfs.Register(name, fsys); err != nil {
		t.Fatal(err)
	}
	if err := sqlitevfs.Unregister(name); err != nil {
		t.Fatal(err)
	}
}

func TestConfig_URI(t *testing.T) {
	for _, tc := range []struct {
		c    sqlitevfs.Config
		want string
		err  error
	}{
		{c: sqlitevfs.Config{}, want: "file:main.db?_pragma=busy_timeout%285000%29&_pragma=locking_mode%28NORMAL%29&_pragma=journal_mode%28TRUNCATE%29&_pragma=synchronous%28FULL%29&vfs=n"},
		{c: sqlitevfs.Config{JournalMode: "wal", LockingMode: "exclusive", BusyTimeout: -1, PageSize: 8192},
			want: "file:main.db?_pragma=busy_timeout%280%29&_pragma=locking_mode%28EXCLUSIVE%29&_pragma=page_size%288192%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28FULL%29&vfs=n"},
		{c: sqlitevfs.Config{JournalMode: "WAL"}, err: sqlitevfs.ErrWALNeedsExclusive},
		{c: sqlitevfs.Config{JournalMode: "bogus"}, err: sqlitevfs.ErrConfig},
		{c: sqlitevfs.Config{Synchronous: "bogus"}, err: sqlitevfs.ErrConfig},
		{c: sqlitevfs.Config{LockingMode: "bogus"}, err: sqlitevfs.ErrConfig},
		{c: sqlitevfs.Config{PageSize: 1000}, err: sqlitevfs.ErrConfig},
	} {
		got, err := tc.c.URI("n", "main.db")
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%+v: error %v, want %v", tc.c, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v:\n got %s, %v\nwant %s", tc.c, got, err, tc.want)
		}
	}
}

// TestOpenConn_manyConns runs several connections of one process on one
// database at once: every increment must land exactly once.
func TestOpenConn_manyConns(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		setup := openConn(t, name, "main.db", sqlitevfs.Config{})
		exec(t, setup, "CREATE TABLE c(id INTEGER PRIMARY KEY, n INTEGER)")
		exec(t, setup, "INSERT INTO c VALUES (1, 0)")
		const conns, incs = 4, 25
		cs := make([]*sqlite3.Conn, conns)
		for i := range cs {
			cs[i] = openConn(t, name, "main.db", sqlitevfs.Config{})
		}
		concurrently(t, conns, func(i int) error {
			conn, busy := cs[i], 0
			for j := 0; j < incs; {
				err := increment(conn, int64(i*1000+j))
				if err == nil {
					j++
					continue
				}
				conn.Exec("ROLLBACK")
				// Two readers that both want to write: SQLite makes one
				// give up at once with BUSY (no busy handler for a lock
				// upgrade), and it retries.
				if !errors.Is(err, sqlite3.BUSY) || busy >= 100000 {
					return err
				}
				busy++
			}
			return nil
		})
		if n := queryInt(t, setup, "SELECT n FROM c WHERE id = 1"); n != conns*incs {
			t.Fatalf("counter %d, want %d", n, conns*incs)
		}
		if n := queryInt(t, setup, "SELECT count(*) FROM c"); n != conns*incs+1 {
			t.Fatalf("rows %d, want %d", n, conns*incs+1)
		}
		integrityOK(t, setup)
	})
}

// increment reads the counter in one statement and writes it in another,
// in one deferred transaction, so that the connection goes from SHARED to
// RESERVED to EXCLUSIVE while others hold their own locks.
func increment(conn *sqlite3.Conn, tag int64) error {
	if err := conn.Exec("BEGIN"); err != nil {
		return err
	}
	stmt, _, err := conn.Prepare("SELECT n FROM c WHERE id = 1")
	if err != nil {
		return err
	}
	if !stmt.Step() {
		stmt.Close()
		return fmt.Errorf("no counter row: %w", stmt.Err())
	}
	n := stmt.ColumnInt64(0)
	if err := stmt.Close(); err != nil {
		return err
	}
	if err := conn.Exec(fmt.Sprintf("UPDATE c SET n = %d WHERE id = 1; INSERT INTO c(n) VALUES (%d)", n+1, tag)); err != nil {
		return err
	}
	return conn.Exec("COMMIT")
}

// TestOpenConn_superJournal commits one transaction across two attached
// databases: SQLite creates a super-journal (OPEN_EXCLUSIVE), syncs it and
// its directory, and deletes it at the end.
func TestOpenConn_superJournal(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		var mu sync.Mutex
		var superOps []string
		rec := errorfs.WithErrors(fsys, errorfs.PathMatch("main.db-mj*", errorfs.InjectorFunc(func(op errorfs.Op) error {
			mu.Lock()
			superOps = append(superOps, op.Kind.String())
			mu.Unlock()
			return nil
		})))
		name := register(t, rec)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{JournalMode: "DELETE"})
		exec(t, conn, "ATTACH 'file:other.db?vfs="+name+"' AS o")
		exec(t, conn, "PRAGMA o.journal_mode=DELETE")
		exec(t, conn, "CREATE TABLE t(a); CREATE TABLE o.u(b)")
		exec(t, conn, "BEGIN; INSERT INTO t VALUES (1); INSERT INTO o.u VALUES (2); COMMIT")
		if got := queryRows(t, conn, "SELECT (SELECT a FROM t), (SELECT b FROM o.u)"); got[0] != "1|2" {
			t.Fatalf("rows %q", got)
		}
		names, err := fsys.List(".")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{"main.db", "other.db"}) {
			t.Fatalf("files after commit: %q", names)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, kind := range []string{"create", "write", "sync", "remove"} {
			if !slices.Contains(superOps, kind) {
				t.Errorf("no %s of a super-journal (ops %q)", kind, superOps)
			}
		}
	})
}

// TestOpenConn_readOnly opens a database read-only: reads work, writes
// get SQLITE_READONLY.
func TestOpenConn_readOnly(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		rw := openConn(t, name, "main.db", sqlitevfs.Config{})
		exec(t, rw, "CREATE TABLE t(a); INSERT INTO t VALUES (1)")
		ro := openConn(t, name, "main.db", sqlitevfs.Config{ReadOnly: true})
		if n := queryInt(t, ro, "SELECT count(*) FROM t"); n != 1 {
			t.Fatal(n)
		}
		if err := ro.Exec("INSERT INTO t VALUES (2)"); !errors.Is(err, sqlite3.READONLY) {
			t.Fatalf("insert on a read-only connection: %v", err)
		}
	})
}
