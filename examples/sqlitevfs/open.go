package sqlitevfs

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// Config says how OpenConn, OpenDB and URI set up a connection. The zero
// value gives the defaults: TRUNCATE journal, synchronous=FULL, NORMAL
// locking, a 5 s busy timeout. Names are case-insensitive.
//
// Concurrency: a plain value; its methods do not modify it.
type Config struct {
	// JournalMode is DELETE, TRUNCATE (default), PERSIST, MEMORY, OFF or
	// WAL. WAL needs LockingMode EXCLUSIVE unless the VFS was registered
	// WithSharedMemory (a WAL index shared by the connections).
	JournalMode string
	// Synchronous is OFF, NORMAL, FULL (default) or EXTRA.
	Synchronous string
	// LockingMode is NORMAL (default) or EXCLUSIVE.
	LockingMode string
	// BusyTimeout is how long a connection retries a lock another
	// connection holds; 0 means 5 s, negative means no retry.
	BusyTimeout time.Duration
	// PageSize, if not 0, is the page size of a database that does not
	// exist yet. Register the VFS WithPageSize(PageSize) too.
	PageSize int
	// ReadOnly opens the database read-only (mode=ro).
	ReadOnly bool
}

// pragmas returns the PRAGMA arguments to run at open, in the order that
// matters (busy timeout and locking mode first), after checking c; shm
// says that the registration has shared memory for the WAL index.
func (c Config) pragmas(shm bool) ([]string, error) {
	jm := strings.ToUpper(c.JournalMode)
	sy := strings.ToUpper(c.Synchronous)
	lm := strings.ToUpper(c.LockingMode)
	if jm == "" {
		jm = "TRUNCATE"
	}
	if sy == "" {
		sy = "FULL"
	}
	if lm == "" {
		lm = "NORMAL"
	}
	switch jm {
	case "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF", "WAL":
	default:
		return nil, fmt.Errorf("%w: journal mode %q", ErrConfig, c.JournalMode)
	}
	switch sy {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("%w: synchronous %q", ErrConfig, c.Synchronous)
	}
	switch lm {
	case "NORMAL", "EXCLUSIVE":
	default:
		return nil, fmt.Errorf("%w: locking mode %q", ErrConfig, c.LockingMode)
	}
	if jm == "WAL" && lm != "EXCLUSIVE" && !shm {
		return nil, fmt.Errorf("%w: %w", ErrConfig, ErrWALNeedsExclusive)
	}
	if c.PageSize != 0 && !validPageSize(c.PageSize) {
		return nil, fmt.Errorf("%w: page size %d", ErrConfig, c.PageSize)
	}
	bt := c.BusyTimeout
	switch {
	case bt == 0:
		bt = 5 * time.Second
	case bt < 0:
		bt = 0
	}
	p := []string{
		"busy_timeout(" + strconv.FormatInt(bt.Milliseconds(), 10) + ")",
		"locking_mode(" + lm + ")",
	}
	if c.PageSize != 0 {
		p = append(p, "page_size("+strconv.Itoa(c.PageSize)+")")
	}
	if !c.ReadOnly {
		p = append(p, "journal_mode("+jm+")")
	}
	return append(p, "synchronous("+sy+")"), nil
}

// URI returns the SQLite URI that opens the database dbName (a vfs path)
// on the VFS registered as vfsName with the settings of c, for
// sqlite3.Open or sql.Open("sqlite3", ...):
//
//	file:main.db?vfs=NAME&_pragma=busy_timeout(5000)&_pragma=locking_mode(NORMAL)&...
//
// Errors: an *fs.PathError wrapping fs.ErrInvalid for an invalid dbName,
// or ErrConfig.
func (c Config) URI(vfsName, dbName string) (string, error) {
	n, err := cleanName("uri", dbName)
	if err != nil {
		return "", err
	}
	if n != dbName {
		return "", &fs.PathError{Op: "uri", Path: dbName, Err: fs.ErrInvalid}
	}
	p, err := c.pragmas(hasSharedMemory(vfsName))
	if err != nil {
		return "", err
	}
	q := url.Values{"vfs": {vfsName}, "_pragma": p}
	if c.ReadOnly {
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: n}).EscapedPath(), RawQuery: q.Encode()}
	return u.String(), nil
}

// OpenConn opens a connection to the database dbName on the VFS registered
// as vfsName, with the settings of c, and checks that SQLite took the
// journal mode asked for. Close the connection when done.
func OpenConn(ctx context.Context, vfsName, dbName string, c Config) (*sqlite3.Conn, error) {
	uri, err := c.URI(vfsName, dbName)
	if err != nil {
		return nil, err
	}
	conn, err := sqlite3.OpenContext(ctx, uri)
	if err != nil {
		return nil, err
	}
	if err := c.verify(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// OpenDB returns a database/sql handle for the database dbName on the VFS
// registered as vfsName, through the ncruces driver. Every connection the
// pool opens gets the settings of c and is checked as in OpenConn. With
// LockingMode EXCLUSIVE the pool is limited to one connection, since a
// second one could never get a lock.
func OpenDB(vfsName, dbName string, c Config) (*sql.DB, error) {
	uri, err := c.URI(vfsName, dbName)
	if err != nil {
		return nil, err
	}
	db, err := driver.Open(uri, c.verify)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(c.LockingMode, "EXCLUSIVE") {
		db.SetMaxOpenConns(1)
	}
	return db, nil
}

// verify checks that the connection runs in the journal mode c asks for:
// SQLite ignores a journal_mode it cannot apply without an error.
func (c Config) verify(conn *sqlite3.Conn) error {
	if c.ReadOnly {
		return nil
	}
	want := strings.ToLower(c.JournalMode)
	if want == "" {
		want = "truncate"
	}
	stmt, _, err := conn.Prepare("PRAGMA journal_mode")
	if err != nil {
		return err
	}
	defer stmt.Close()
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return err
		}
		return fmt.Errorf("sqlitevfs: PRAGMA journal_mode returned no row")
	}
	if got := stmt.ColumnText(0); got != want {
		return fmt.Errorf("%w: journal mode is %q, asked for %q", ErrConfig, got, want)
	}
	return stmt.Close()
}
