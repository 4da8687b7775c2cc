package sqlitevfs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// Register an FS and use it through database/sql.
func Example() {
	fsys := vfs.NewMem()
	if err := sqlitevfs.Register("example-mem", fsys); err != nil {
		log.Fatal(err)
	}
	db, err := sqlitevfs.OpenDB("example-mem", "app.db", sqlitevfs.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('a', '1'), ('b', '2')"); err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM kv").Scan(&n); err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}
	if err := sqlitevfs.Unregister("example-mem"); err != nil {
		log.Fatal(err)
	}
	names, _ := fsys.List(".")
	fmt.Println(n, names)
	// Output: 2 [app.db app.db-journal]
}

// OpenConn gives a *sqlite3.Conn, for the whole ncruces API.
func ExampleOpenConn() {
	if err := sqlitevfs.Register("example-conn", vfs.NewMem()); err != nil {
		log.Fatal(err)
	}
	defer sqlitevfs.Unregister("example-conn")
	conn, err := sqlitevfs.OpenConn(context.Background(), "example-conn", "main.db", sqlitevfs.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare("PRAGMA journal_mode")
	if err != nil {
		log.Fatal(err)
	}
	defer stmt.Close()
	if stmt.Step() {
		fmt.Println(stmt.ColumnText(0))
	}
	// Output: truncate
}

func ExampleConfig_URI() {
	uri, err := sqlitevfs.Config{JournalMode: "WAL", LockingMode: "EXCLUSIVE"}.URI("node1", "db/main.db")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(uri)
	_, err = sqlitevfs.Config{JournalMode: "WAL"}.URI("node1", "db/main.db")
	fmt.Println(err)
	// Output:
	// file:db/main.db?_pragma=busy_timeout%285000%29&_pragma=locking_mode%28EXCLUSIVE%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28FULL%29&vfs=node1
	// sqlitevfs: invalid connection config: sqlitevfs: journal_mode=WAL needs locking_mode=EXCLUSIVE (the vfs has no shared memory for the WAL index)
}
