package sqlitevfs_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
)

var vfsSeq atomic.Int64

// register registers fsys under a fresh name, and in cleanup checks the
// registration's invariants and unregisters it.
func register(t testing.TB, fsys vfs.FS, opts ...sqlitevfs.Option) string {
	t.Helper()
	name := fmt.Sprintf("test%d", vfsSeq.Add(1))
	if err := sqlitevfs.Register(name, fsys, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sqlitevfs.Check(name); err != nil {
			t.Error(err)
		}
		if err := sqlitevfs.Unregister(name); err != nil {
			t.Error(err)
		}
	})
	return name
}

// openConn opens dbName on the registration name and closes it in cleanup.
func openConn(t testing.TB, name, dbName string, c sqlitevfs.Config) *sqlite3.Conn {
	t.Helper()
	conn, err := sqlitevfs.OpenConn(context.Background(), name, dbName, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	})
	return conn
}

// exec runs sql on conn and fails the test on error.
func exec(t testing.TB, conn *sqlite3.Conn, sql string) {
	t.Helper()
	if err := conn.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// queryInt runs a query returning one integer.
func queryInt(t testing.TB, conn *sqlite3.Conn, sql string) int64 {
	t.Helper()
	stmt, _, err := conn.Prepare(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer stmt.Close()
	if !stmt.Step() {
		t.Fatalf("%s: no row: %v", sql, stmt.Err())
	}
	return stmt.ColumnInt64(0)
}

// queryRows runs a query and returns all rows as strings, one per row,
// columns joined by "|".
func queryRows(t testing.TB, conn *sqlite3.Conn, sql string) []string {
	t.Helper()
	rows, err := queryRowsErr(conn, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func queryRowsErr(conn *sqlite3.Conn, sql string) ([]string, error) {
	stmt, _, err := conn.Prepare(sql)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var out []string
	for stmt.Step() {
		var s string
		for i := range stmt.ColumnCount() {
			if i > 0 {
				s += "|"
			}
			s += stmt.ColumnText(i)
		}
		out = append(out, s)
	}
	if err := stmt.Err(); err != nil {
		return nil, err
	}
	return out, stmt.Close()
}

// integrityOK fails the test unless PRAGMA integrity_check says ok.
func integrityOK(t testing.TB, conn *sqlite3.Conn) {
	t.Helper()
	rows := queryRows(t, conn, "PRAGMA integrity_check")
	if len(rows) != 1 || rows[0] != "ok" {
		t.Fatalf("integrity_check: %q", rows)
	}
}

// fsKinds are the file systems every adapter test runs on.
var fsKinds = []struct {
	name string
	new  func(t testing.TB) vfs.FS
}{
	{"Mem", func(t testing.TB) vfs.FS {
		m := vfs.NewMem()
		t.Cleanup(func() {
			if err := m.Check(); err != nil {
				t.Error(err)
			}
		})
		return m
	}},
	{"OS", func(t testing.TB) vfs.FS { return vfs.OS(t.TempDir()) }},
}

// forEachFS runs f as a subtest on each of fsKinds.
func forEachFS(t *testing.T, f func(t *testing.T, fsys vfs.FS)) {
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) { f(t, k.new(t)) })
	}
}

// concurrently runs f(0), ..., f(n-1) in n goroutines, waits for them all
// and fails t with every error they returned.
func concurrently(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := f(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}
