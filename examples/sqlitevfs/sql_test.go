package sqlitevfs_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
)

// TestOpenDB_databaseSQL uses the adapter through database/sql: a pool of
// connections, transactions committed and rolled back, concurrent writers.
func TestOpenDB_databaseSQL(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		db, err := sqlitevfs.OpenDB(name, "app.db", sqlitevfs.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		}()
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER)"); err != nil {
			t.Fatal(err)
		}

		// Rolled back.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO kv VALUES ('gone', 1)"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}

		// Concurrent committed transactions (the driver's default is
		// BEGIN IMMEDIATE, so they serialise on the RESERVED lock).
		const writers, each = 4, 20
		concurrently(t, writers, func(w int) error {
			for i := range each {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO kv VALUES (?, ?)", strings.Repeat("k", w+1)+string(rune('a'+i)), w*100+i); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return nil
		})
		var n, sum int
		if err := db.QueryRowContext(ctx, "SELECT count(*), sum(v) FROM kv").Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		wantSum := 0
		for w := range writers {
			for i := range each {
				wantSum += w*100 + i
			}
		}
		if n != writers*each || sum != wantSum {
			t.Fatalf("count %d sum %d, want %d %d", n, sum, writers*each, wantSum)
		}
		err = db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 'gone'").Scan(&n)
		if !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("rolled back row: %v", err)
		}
		var ok string
		if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check: %q %v", ok, err)
		}
	})
}

// TestOpenConn_walRefused checks that WAL is refused with a clear error
// unless the connection holds the database exclusively, and works then.
func TestOpenConn_walRefused(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS) {
		name := register(t, fsys)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		exec(t, conn, "CREATE TABLE t(a)")
		err := conn.Exec("PRAGMA journal_mode=WAL")
		if err == nil || !strings.Contains(err.Error(), sqlitevfs.ErrWALNeedsExclusive.Error()) {
			t.Fatalf("journal_mode=WAL in NORMAL locking: %v", err)
		}
		if got := queryRows(t, conn, "PRAGMA journal_mode"); got[0] != "truncate" {
			t.Fatalf("journal mode %q after the refusal", got)
		}
		if _, err := sqlitevfs.OpenDB(name, "main.db", sqlitevfs.Config{JournalMode: "WAL"}); !errors.Is(err, sqlitevfs.ErrWALNeedsExclusive) {
			t.Fatalf("OpenDB with WAL and NORMAL locking: %v", err)
		}
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}

		// With locking_mode=EXCLUSIVE, SQLite keeps the WAL index in the
		// connection's heap.
		wal := sqlitevfs.Config{JournalMode: "WAL", LockingMode: "EXCLUSIVE"}
		c1, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", wal)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, c1, "INSERT INTO t SELECT value FROM generate_series(1, 100)")
		if _, err := fsys.Stat("main.db-wal"); err != nil {
			t.Fatalf("no WAL file: %v", err)
		}
		// Another connection cannot get in while c1 holds the lock.
		c2, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", sqlitevfs.Config{BusyTimeout: -1, JournalMode: "WAL", LockingMode: "EXCLUSIVE"})
		if err == nil {
			_, err = queryRowsErr(c2, "SELECT count(*) FROM t")
			c2.Close()
		}
		if !errors.Is(err, sqlite3.BUSY) {
			t.Fatalf("second connection while WAL is held: %v", err)
		}
		if err := c1.Close(); err != nil {
			t.Fatal(err)
		}
		c3 := openConn(t, name, "main.db", wal)
		if n := queryInt(t, c3, "SELECT count(*) FROM t"); n != 100 {
			t.Fatalf("count %d after reopen, want 100", n)
		}
		integrityOK(t, c3)
		if err := c3.Close(); err != nil {
			t.Fatal(err)
		}

		// A WAL database cannot be read in NORMAL locking mode.
		c4, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", sqlitevfs.Config{})
		if err == nil {
			_, err = queryRowsErr(c4, "SELECT count(*) FROM t")
			c4.Close()
		}
		if err == nil {
			t.Fatal("WAL database opened in NORMAL locking mode")
		}
		t.Logf("WAL database in NORMAL locking mode: %v", err)
	})
}
