package sqlitevfs_test

import (
	"context"
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/ncruces/go-sqlite3"
)

// TestFile_errorMapping injects one kind of failure at a time and checks
// the SQLite extended code that the statement returns, then that the
// database is still intact once the failure goes away.
func TestFile_errorMapping(t *testing.T) {
	corrupt := func(op errorfs.Op) error { return vfs.ErrCorrupt }
	noSpace := func(op errorfs.Op) error { return syscall.ENOSPC }
	for _, tc := range []struct {
		name    string
		journal string // journal mode, default TRUNCATE
		kind    errorfs.OpKind
		path    string
		err     func(errorfs.Op) error // default vfs.ErrInjected
		stmt    string
		want    sqlite3.ExtendedErrorCode
		primary sqlite3.ErrorCode // instead of want, when SQLite reports a primary code
	}{
		{name: "read", kind: errorfs.OpRead, path: "main.db", stmt: "SELECT count(*) FROM t", want: sqlite3.IOERR_READ},
		{name: "corrupt read", kind: errorfs.OpRead, path: "main.db", err: corrupt, stmt: "SELECT count(*) FROM t", want: sqlite3.IOERR_DATA},
		{name: "write", kind: errorfs.OpWrite, path: "main.db", stmt: "INSERT INTO t VALUES (randomblob(5000))", want: sqlite3.IOERR_WRITE},
		{name: "corrupt write", kind: errorfs.OpWrite, path: "main.db", err: corrupt, stmt: "INSERT INTO t VALUES (randomblob(5000))", want: sqlite3.IOERR_DATA},
		{name: "no space", kind: errorfs.OpWrite, path: "main.db-journal", err: noSpace, stmt: "INSERT INTO t VALUES (randomblob(5000))", primary: sqlite3.FULL},
		{name: "journal write", kind: errorfs.OpWrite, path: "main.db-journal", stmt: "INSERT INTO t VALUES (randomblob(5000))", want: sqlite3.IOERR_WRITE},
		{name: "journal sync", kind: errorfs.OpSync, path: "main.db-journal", stmt: "INSERT INTO t VALUES (1)", want: sqlite3.IOERR_FSYNC},
		{name: "db sync", kind: errorfs.OpSync, path: "main.db", stmt: "INSERT INTO t VALUES (1)", want: sqlite3.IOERR_FSYNC},
		{name: "journal truncate", kind: errorfs.OpTruncate, path: "main.db-journal", stmt: "INSERT INTO t VALUES (1)", want: sqlite3.IOERR_TRUNCATE},
		{name: "size", kind: errorfs.OpSize, path: "main.db", stmt: "SELECT count(*) FROM t", want: sqlite3.IOERR_FSTAT},
		{name: "access", kind: errorfs.OpStat, path: "main.db-journal", stmt: "SELECT count(*) FROM t", want: sqlite3.IOERR_ACCESS},
		{name: "delete", journal: "DELETE", kind: errorfs.OpRemove, path: "main.db-journal", stmt: "INSERT INTO t VALUES (1)", want: sqlite3.IOERR_DELETE},
		{name: "dir sync", journal: "DELETE", kind: errorfs.OpSyncDir, path: ".", stmt: "INSERT INTO t VALUES (1)", want: sqlite3.IOERR_DIR_FSYNC},
		{name: "open journal", journal: "DELETE", kind: errorfs.OpCreate, path: "main.db-journal", stmt: "INSERT INTO t VALUES (1)", primary: sqlite3.CANTOPEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			inj := errorfs.Injector(errorfs.Always())
			if tc.err != nil {
				inj = errorfs.InjectorFunc(tc.err)
			}
			toggle := errorfs.NewToggle(errorfs.PathMatch(tc.path, errorfs.OnKinds(inj, tc.kind)))
			efs := errorfs.WithErrors(mem, toggle)
			name := register(t, efs)
			cfg := sqlitevfs.Config{JournalMode: tc.journal}

			setup := openConn(t, name, "main.db", cfg)
			exec(t, setup, "CREATE TABLE t(a)")
			exec(t, setup, "INSERT INTO t SELECT randomblob(1000) FROM generate_series(1, 50)")
			if err := setup.Close(); err != nil {
				t.Fatal(err)
			}

			conn := openConn(t, name, "main.db", cfg)
			toggle.Arm()
			err := conn.Exec(tc.stmt)
			toggle.Disarm()
			if efs.Injected() == 0 {
				t.Fatalf("%s: no op was failed (the workload never reached %s %s)", tc.stmt, tc.kind, tc.path)
			}
			if tc.primary != 0 {
				if !errors.Is(err, tc.primary) {
					t.Fatalf("%s: error %v, want %v", tc.stmt, err, tc.primary)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("%s: error %v, want %v", tc.stmt, err, tc.want)
			}
			cause := sqlitevfs.LastIOError(conn)
			switch {
			case tc.err != nil:
				if want := tc.err(errorfs.Op{}); !errors.Is(cause, want) {
					t.Errorf("LastIOError: %v, want %v", cause, want)
				}
			default:
				if !errors.Is(cause, vfs.ErrInjected) {
					t.Errorf("LastIOError: %v, want %v", cause, vfs.ErrInjected)
				}
			}
			var perr *fs.PathError
			if cause != nil && !errors.As(cause, &perr) {
				t.Errorf("LastIOError: %v is not an *fs.PathError", cause)
			}
			conn.Exec("ROLLBACK")
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}

			check := openConn(t, name, "main.db", cfg)
			integrityOK(t, check)
			if n := queryInt(t, check, "SELECT count(*) FROM t"); n != 50 && n != 51 {
				t.Fatalf("count %d after the failure, want 50 or 51", n)
			}
		})
	}
}

// TestOpenConn_openError checks that a failing open of the database is
// SQLITE_CANTOPEN with the FS's error attached.
func TestOpenConn_openError(t *testing.T) {
	efs := errorfs.WithErrors(vfs.NewMem(), errorfs.PathMatch("main.db", errorfs.OnKinds(errorfs.Always(), errorfs.OpOpen, errorfs.OpCreate)))
	name := register(t, efs)
	conn, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", sqlitevfs.Config{})
	if err == nil {
		conn.Close()
		t.Fatal("open succeeded")
	}
	if !errors.Is(err, sqlite3.CANTOPEN) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("open: %v, want CANTOPEN wrapping %v", err, vfs.ErrInjected)
	}
}
