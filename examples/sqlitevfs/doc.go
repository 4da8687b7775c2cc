// Package sqlitevfs runs SQLite (github.com/ncruces/go-sqlite3, pure Go, no
// cgo) on any vfs.FS: a directory (vfs.OS), memory (vfs.NewMem), a fault
// injector (errorfs), or one of package cow's writer and copier views.
//
// # Usage
//
// Register an FS under a name, then open connections on it, directly or
// through database/sql:
//
//	err := sqlitevfs.Register("node1", view)
//	conn, err := sqlitevfs.OpenConn(ctx, "node1", "main.db", sqlitevfs.Config{})
//	db, err := sqlitevfs.OpenDB("node1", "main.db", sqlitevfs.Config{})
//
// Both build the URI "file:main.db?vfs=node1&_pragma=..." (Config.URI), which
// also works with sqlite3.Open and sql.Open("sqlite3", ...) if the caller
// imports github.com/ncruces/go-sqlite3/driver.
//
// The caller must:
//
//  1. Register a name before opening connections on it, and Unregister it
//     only after closing all of them (Unregister refuses while files are
//     open; a connection opening concurrently with Unregister makes ncruces
//     panic).
//  2. Let one process at most open a given database: locks are kept in
//     process memory (see Caveats).
//  3. Keep the defaults (TRUNCATE journal, synchronous=FULL) unless they
//     know why not. With DELETE use synchronous=EXTRA for durable commits.
//  4. Use WAL only through a registration WithSharedMemory(dir), dir on
//     node-local storage (never on the shared storage), or else together
//     with locking_mode=EXCLUSIVE (one connection). Close every connection
//     of a registration with shared memory before the FS's content changes
//     under it (a copier reset, a reopening on shared storage).
//  5. On a cow view, open the database with the page size that the view's
//     block size can follow (see Block size).
//
// # Files and names
//
// SQLite's names map to clean relative vfs paths: leading slashes go
// ("file:/x.db" is "x.db" at the FS root), "." and ".." are resolved, and a
// name that climbs out of the root gets SQLITE_CANTOPEN. The journal is
// NAME-journal, the WAL NAME-wal, next to the database. Files without a
// name (temp databases, temp and statement journals, sorter spills) stay in
// process memory and never reach the FS. xAccess is Stat, xDelete is Remove
// (then SyncDir on the parent when SQLite asks). OPEN_CREATE opens an
// existing file without O_CREATE first, so that a cow writer view sees no
// mutation; OPEN_EXCLUSIVE is O_EXCL; OPEN_DELETEONCLOSE removes the file
// at Close. The first Sync of a file that the open created also syncs its
// directory, so a new journal cannot vanish in a crash.
//
// # Journal mode
//
// The default is TRUNCATE with synchronous=FULL. Each commit ends by
// truncating the journal to zero and syncing it, which is durable at the
// point SQLite reports the commit. DELETE instead unlinks the journal, and
// SQLite syncs the directory only with synchronous=EXTRA: under FULL a
// power loss right after a commit can resurrect the journal and roll the
// transaction back. TRUNCATE also creates and removes no file per
// transaction, so on a cow writer view a commit at steady state needs no
// stability round for namespace changes (creating the journal would need a
// whiteout, removing it a whole-file preserve). PERSIST is as good.
//
// WAL needs a WAL index that every connection to the database shares.
// WithSharedMemory(dir) keeps it in shared memory backed by a file in dir
// (ncruces' vfs.NewSharedMemory, locked with open-file-description locks):
// then WAL works with locking_mode=NORMAL, and readers run beside the
// connection that writes, each in its own snapshot. The index describes
// one node's view of the WAL, so dir must be node-local: a copier's WAL is
// not the writer's. An index belongs to one FS value and lives while a
// connection has the database open through it: the last close removes its
// file, and the next open starts a new one (in a new file, so a connection
// left open on another FS value, or a file left by an earlier process,
// is never joined), which SQLite rebuilds from the WAL. A view whose
// content changes only while no connection is open (a copier reset, a
// reopening) therefore never meets a stale index. A promotion in place
// keeps the index: the view's content does not change, only where its
// writes go.
//
// Without shared memory, SQLite's WAL index can only live in the heap of
// a connection in locking_mode=EXCLUSIVE. Without it SQLite would silently
// stay in the old journal mode; the adapter instead refuses "PRAGMA
// journal_mode=WAL" with the message of ErrWALNeedsExclusive (the pragma
// fails with SQLITE_ERROR), and OpenConn, OpenDB and URI refuse such a
// Config with ErrConfig. An existing WAL database cannot be opened in
// NORMAL locking mode without shared memory (SQLITE_CANTOPEN from SQLite).
//
// # Locking
//
// Each open database has an entry in an in-process lock table keyed by
// file name, implementing SHARED, RESERVED, PENDING and EXCLUSIVE as
// SQLite's unix VFS does between processes. It never blocks: a lock that
// cannot be granted returns SQLITE_BUSY and SQLite's busy handler retries
// (Config.BusyTimeout). Registrations of the same FS value (a pointer)
// share one table; registrations of different FS values do not lock each
// other out, even if they reach the same storage.
//
// # Errors
//
// A failing FS call becomes the SQLite extended code of the operation:
// SQLITE_IOERR_READ, _WRITE, _FSYNC, _TRUNCATE, _FSTAT, _DELETE, _ACCESS,
// _DIR_FSYNC, _CLOSE; a read past the end is SQLITE_IOERR_SHORT_READ
// (SQLite zero fills and usually carries on); a failed open is
// SQLITE_CANTOPEN (_ISDIR for a directory). Whatever the operation, an
// error wrapping vfs.ErrCorrupt becomes SQLITE_IOERR_DATA and ENOSPC
// becomes SQLITE_FULL. Match codes with errors.Is(err, sqlite3.IOERR_DATA).
//
// The Go error itself rarely reaches the caller. ncruces keeps one "last
// system error" per connection and attaches it to the *sqlite3.Error only
// if no later VFS call of that connection succeeded, and SQLite unlocks or
// rolls back before the statement returns. It does reach the caller for a
// failed open. In every other case call LastIOError(conn), which returns
// the last FS error of the connection's database, journal or WAL, to tell
// vfs.ErrCorrupt or cow.ErrInvalidated (a copier whose lease lapsed) from
// a plain I/O error.
//
// # Block size
//
// When the FS has BlockSize() int and SetBlockSize(int) error (a
// *cow.View), every open of a main database sets the view's block size to
// the database page size: the one in the header (bytes 16-17) if the file
// has one, else WithPageSize's (default 4096). A "PRAGMA page_size=N" on a
// still empty database sets it to N. If the view refuses (it has content)
// and its block size differs, the open fails with SQLITE_CANTOPEN wrapping
// ErrBlockSize. A later VACUUM to another page size leaves the block size
// as it was; cow stays correct, only less efficient.
//
// # Caveats
//
//   - Locks do not reach other processes. Two processes opening one
//     database on a shared directory will corrupt it. In a holeycow cluster
//     only the writer's process opens the shared database, and each copier
//     opens its own view.
//   - Sector size is reported as 4096 and only POWERSAFE_OVERWRITE is
//     claimed (WithPowersafeOverwrite, or psow=0 in the URI, to drop it).
//     Nothing is claimed about atomic writes or safe appends.
//   - The WAL check sees the locking mode that the connection last set with
//     a PRAGMA, when that PRAGMA was prepared, and only for the main
//     database: SQLite sends "PRAGMA locking_mode" without a schema to the
//     main database's file alone. For an attached database in WAL mode, run
//     "PRAGMA schema.locking_mode=EXCLUSIVE" first.
//   - Temp files live in memory: a huge sort uses memory, not disk.
//   - WAL index files are named holeycow-TOKEN-SEQ-NAME-shm; a process
//     that dies leaves its own behind in the WithSharedMemory directory
//     (harmless, never reused): empty the directory at startup.
//
// # Concurrency
//
// Register, Unregister, Check and the open functions are safe for
// concurrent use. Any number of connections, on any goroutines, may use
// one registration at once; SQLite serialises the calls of each
// connection, and the lock table serialises the connections. A
// *sqlite3.Conn is not safe for concurrent use; a *sql.DB is.
package sqlitevfs
