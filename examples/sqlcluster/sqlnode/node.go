package sqlnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
)

// Options configures a Node.
type Options struct {
	// VFS is the name of a registered ncruces/go-sqlite3 VFS (for example
	// one made by examples/sqlitevfs over a cow view); "" is SQLite's
	// default OS VFS.
	VFS string
	// Path is the database file name within the VFS.
	Path string
	// JournalMode is "WAL" (the default), "TRUNCATE", "DELETE" or
	// "PERSIST". WAL needs a VFS with shared memory for its index (on
	// examples/sqlitevfs: a registration WithSharedMemory), or
	// ExclusiveLocking.
	JournalMode string
	// Synchronous is "NORMAL" (the default with WAL, and allowed with WAL
	// only), "FULL" (the default with a rollback journal) or "EXTRA". WAL
	// with NORMAL syncs at checkpoints and Flush, not per commit: a crash
	// may lose the last commits, never more than Flush's index, and
	// replaying the log from AppliedIndex restores them. OFF is refused: it
	// can corrupt the database in a crash. So is NORMAL with a rollback
	// journal: the crash test found a corrupt database ("file is not a
	// database") with TRUNCATE+NORMAL, whose journal is synced once before
	// the database is overwritten and can come back from a crash torn.
	Synchronous string
	// WALAutoCheckpoint is SQLite's wal_autocheckpoint in pages (0: SQLite's
	// 1000); WAL only.
	WALAutoCheckpoint int
	// CheckpointInApply runs the WAL's checkpoints inside the commit that
	// takes the WAL past WALAutoCheckpoint, on the apply connection
	// (SQLite's own wal_autocheckpoint). By default a goroutine runs them
	// on a connection of its own instead, off the apply path (see
	// checkpoint.go); ExclusiveLocking, where no other connection can
	// open, implies CheckpointInApply.
	CheckpointInApply bool
	// ExclusiveLocking sets locking_mode=EXCLUSIVE on the apply
	// connection. WAL then needs no shared memory, but no other connection
	// can read: Query runs on the apply connection and ReadOnlyDB fails.
	ExclusiveLocking bool
	// PageSize, if not 0, is the page size of a database that does not
	// exist yet (on examples/sqlitevfs over a cow view, match the
	// registration's WithPageSize). It has no effect on an existing one.
	PageSize int
	// NoCheckpointOnClose keeps Close from checkpointing the WAL (a
	// copier in refresh mode: its overlay would get the whole WAL, only
	// to be dropped at its next refresh). Read connections never
	// checkpoint on close.
	NoCheckpointOnClose bool
	// ReadConns bounds the read connections Query uses; default 4.
	ReadConns int
	// MaxSteps bounds the work of one request during apply, in SQLite VM
	// steps (counted in units of 1000, and a returned row counts a unit):
	// a request that runs longer fails with ErrStepLimit as its result,
	// the same on every node (give every node the same bound). 0 means
	// DefaultMaxSteps; negative, unbounded.
	MaxSteps int64
	// Logger receives apply failures (at Debug: ApplyBatch returns them);
	// nil discards.
	Logger *slog.Logger

	// manualCheckpoint (tests): no checkpointer goroutine; the test calls
	// checkpointDue where it would run.
	manualCheckpoint bool
}

func (o *Options) fill() error {
	if o.Path == "" {
		return fmt.Errorf("sqlnode: Options.Path is empty")
	}
	o.JournalMode = strings.ToUpper(o.JournalMode)
	switch o.JournalMode {
	case "":
		o.JournalMode = "WAL"
	case "WAL", "DELETE", "TRUNCATE", "PERSIST":
	default:
		return fmt.Errorf("sqlnode: unsupported journal mode %q", o.JournalMode)
	}
	o.Synchronous = strings.ToUpper(o.Synchronous)
	switch o.Synchronous {
	case "":
		o.Synchronous = "FULL"
		if o.JournalMode == "WAL" {
			o.Synchronous = "NORMAL"
		}
	case "FULL", "EXTRA":
	case "NORMAL":
		if o.JournalMode != "WAL" {
			return fmt.Errorf("sqlnode: synchronous=NORMAL is not crash-safe with journal mode %s; use FULL, or WAL", o.JournalMode)
		}
	default:
		return fmt.Errorf("sqlnode: unsupported synchronous mode %q (OFF is not crash-safe)", o.Synchronous)
	}
	if o.WALAutoCheckpoint < 0 || (o.WALAutoCheckpoint > 0 && o.JournalMode != "WAL") {
		return fmt.Errorf("sqlnode: WALAutoCheckpoint %d needs WAL and must not be negative", o.WALAutoCheckpoint)
	}
	if o.PageSize != 0 && (o.PageSize < 512 || o.PageSize > 65536 || o.PageSize&(o.PageSize-1) != 0) {
		return fmt.Errorf("sqlnode: page size %d is not a power of two in [512, 65536]", o.PageSize)
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	switch {
	case o.MaxSteps == 0:
		o.MaxSteps = DefaultMaxSteps
	case o.MaxSteps < 0:
		o.MaxSteps = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// appliedTable is our bookkeeping table: the index of the last applied log
// entry, written in the same transaction as the entry.
const appliedTable = "_holeycow_applied"

// reservedPrefix names tables that requests may not touch and that the
// checksum leaves out.
const reservedPrefix = "_holeycow_"

// Node is one node's SQLite database, fed with log entries in log order.
//
// Concurrency: Apply, ApplyBatch, Flush and Close serialize on one lock;
// Query, Checksum, Precheck, AppliedIndex and WaitApplied may run
// concurrently with them and with each other; Interrupt may be called at
// any time, from any goroutine. In WAL mode a goroutine of the Node's own
// checkpoints beside them (checkpoint.go); Close stops it.
type Node struct {
	opts Options
	uri  string

	applied atomic.Uint64 // last applied index; written under mu, after commit
	// rowsCollected counts the result rows apply kept (RowsCollected).
	rowsCollected atomic.Int64
	bounds        bounds // the step bound; see bound.go

	// stmtCaches maps each read connection to its *stmtCache
	// (stmtcache.go).
	stmtCaches sync.Map

	// mu serializes the apply connection.
	mu struct {
		sync.Mutex
		conn  *sqlite3.Conn // nil once closed
		auth  authMode      // what the apply connection's authorizer enforces
		rowid rowidGuard    // the largest-rowid guard (see rowid.go)
		stmts applyStmts    // the apply connection's kept statements (applystmts.go)
	}

	// waitMu guards the channel that is closed when applied advances.
	waitMu struct {
		sync.Mutex
		advanced chan struct{}
		closed   bool
	}

	// readers is the pool of idle read connections (WAL or rollback
	// modes without exclusive locking); tokens bounds how many exist.
	readers chan *sqlite3.Conn
	tokens  chan struct{}
	done    chan struct{} // closed by Close

	// ckpt is the background checkpointer (checkpoint.go); nil when
	// checkpoints run in apply (or in a rollback-journal mode).
	ckpt *checkpointer
}

func (n *Node) fileURI() string {
	var b strings.Builder
	b.WriteString("file:")
	for _, c := range []byte(n.opts.Path) {
		switch c {
		case '?', '#', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	if n.opts.VFS != "" {
		b.WriteString("?vfs=")
		b.WriteString(n.opts.VFS)
	}
	return b.String()
}

// Open opens (creating if needed) the database and reads its applied
// index. The caller replays the log from AppliedIndex()+1.
func Open(opts Options) (*Node, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts}
	n.uri = n.fileURI()
	if opts.JournalMode == "WAL" && !opts.ExclusiveLocking && !opts.CheckpointInApply {
		th := opts.WALAutoCheckpoint
		if th == 0 {
			th = 1000 // SQLite's default
		}
		n.ckpt = newCheckpointer(th, opts.manualCheckpoint)
	}
	conn, err := sqlite3.OpenFlags(n.uri, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI|sqlite3.OPEN_EXRESCODE)
	if err != nil {
		return nil, fmt.Errorf("sqlnode: open %s: %w", opts.Path, err)
	}
	if opts.NoCheckpointOnClose {
		if _, err := conn.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
			conn.Close()
			return nil, fmt.Errorf("sqlnode: open %s: %w", opts.Path, err)
		}
	}
	if err := errors.Join(enableDQS(conn), n.setupApplyConn(conn), n.setupBounds(conn)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlnode: open %s: %w", opts.Path, err)
	}
	idx, err := readApplied(conn)
	if err == nil {
		n.mu.rowid.rescan = true
		err = n.mu.rowid.look(conn)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlnode: open %s: %w", opts.Path, err)
	}
	n.mu.conn = conn
	n.applied.Store(idx)
	n.waitMu.advanced = make(chan struct{})
	n.readers = make(chan *sqlite3.Conn, opts.ReadConns)
	n.tokens = make(chan struct{}, opts.ReadConns)
	n.done = make(chan struct{})
	n.startCheckpointer()
	return n, nil
}

func (n *Node) setupApplyConn(conn *sqlite3.Conn) error {
	var pragmas []string
	if n.opts.ExclusiveLocking {
		pragmas = append(pragmas, "PRAGMA locking_mode=EXCLUSIVE")
	}
	if n.opts.PageSize != 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA page_size=%d", n.opts.PageSize))
	}
	pragmas = append(pragmas,
		"PRAGMA journal_mode="+n.opts.JournalMode,
		"PRAGMA synchronous="+n.opts.Synchronous,
	)
	if n.opts.WALAutoCheckpoint > 0 && n.ckpt == nil {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", n.opts.WALAutoCheckpoint))
	}
	pragmas = append(pragmas,
		"PRAGMA foreign_keys=OFF",
		"PRAGMA recursive_triggers=OFF",
		"CREATE TABLE IF NOT EXISTS "+appliedTable+"(id INTEGER PRIMARY KEY CHECK (id=1), idx INTEGER NOT NULL)",
		"INSERT OR IGNORE INTO "+appliedTable+" VALUES(1, 0)",
	)
	for _, p := range pragmas {
		if err := conn.Exec(p); err != nil {
			return err
		}
	}
	if err := checkJournalMode(conn, n.opts.JournalMode); err != nil {
		return err
	}
	if err := conn.BusyTimeout(busyTimeout); err != nil {
		return err
	}
	if n.ckpt != nil {
		// Replaces SQLite's autocheckpoint hook (checkpoint.go).
		conn.WALHook(n.ckpt.hook)
	}
	conn.UpdateHook(func(op sqlite3.AuthorizerActionCode, _, table string, rowid int64) {
		if err := n.mu.rowid.observe(op, table, rowid); err != nil {
			n.bounds.budget.halt = err // stop the statement
		}
	})
	return conn.SetAuthorizer(n.applyAuthorizer)
}

// checkJournalMode verifies that SQLite accepted the journal mode: SQLite
// silently keeps the old mode when, for example, WAL is impossible.
func checkJournalMode(conn *sqlite3.Conn, want string) error {
	st, _, err := conn.Prepare("PRAGMA journal_mode")
	if err != nil {
		return err
	}
	defer st.Close()
	if !st.Step() {
		return errors.Join(fmt.Errorf("sqlnode: PRAGMA journal_mode returned nothing"), st.Err())
	}
	if got := strings.ToUpper(st.ColumnText(0)); got != want {
		return fmt.Errorf("sqlnode: journal mode is %s, not %s (does the VFS support shared memory? try ExclusiveLocking)", got, want)
	}
	return st.Reset()
}

func readApplied(conn *sqlite3.Conn) (uint64, error) {
	st, _, err := conn.Prepare("SELECT idx FROM " + appliedTable + " WHERE id=1")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		return 0, errors.Join(fmt.Errorf("sqlnode: %s has no row", appliedTable), st.Err())
	}
	v := st.ColumnInt64(0)
	if v < 0 {
		return 0, fmt.Errorf("sqlnode: stored applied index %d is negative", v)
	}
	return uint64(v), st.Reset()
}

// authMode selects the rules of the apply connection's authorizer.
type authMode uint8

const (
	authNone  authMode = iota // our own statements
	authApply                 // a request's statements
	authRead                  // Query on the apply connection (ExclusiveLocking)
)

// applyAuthorizer refuses, in a request's statements, what would make
// nodes diverge or break apply's transaction. It repeats Rewrite's checks,
// so that a command that bypassed Rewrite fails the same way on every node.
func (n *Node) applyAuthorizer(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) sqlite3.AuthorizerReturnCode {
	switch n.mu.auth {
	case authNone:
		return sqlite3.AUTH_OK
	case authRead:
		return readAuthorizer(action, name3, name4, schema, inner)
	}
	n.mu.rowid.note(action)
	if !plainAction(action) {
		n.mu.stmts.plain, n.mu.stmts.stale = false, true
	}
	switch action {
	case sqlite3.AUTH_TRANSACTION, sqlite3.AUTH_SAVEPOINT, sqlite3.AUTH_ATTACH, sqlite3.AUTH_DETACH,
		sqlite3.AUTH_CREATE_TEMP_TABLE, sqlite3.AUTH_CREATE_TEMP_INDEX, sqlite3.AUTH_CREATE_TEMP_TRIGGER,
		sqlite3.AUTH_CREATE_TEMP_VIEW:
		// TEMP objects live in one connection: a node that restarts loses them.
		return sqlite3.AUTH_DENY
	case sqlite3.AUTH_PRAGMA:
		switch strings.ToLower(name3) {
		case "user_version", "application_id":
			return sqlite3.AUTH_OK
		}
		return sqlite3.AUTH_DENY
	case sqlite3.AUTH_FUNCTION:
		switch strings.ToLower(name4) {
		case "random", "randomblob", "total_changes":
			return sqlite3.AUTH_DENY
		}
	case sqlite3.AUTH_INSERT, sqlite3.AUTH_UPDATE, sqlite3.AUTH_DELETE, sqlite3.AUTH_DROP_TABLE,
		sqlite3.AUTH_CREATE_TABLE, sqlite3.AUTH_CREATE_TRIGGER, sqlite3.AUTH_CREATE_INDEX, sqlite3.AUTH_DROP_INDEX, sqlite3.AUTH_DROP_TRIGGER:
		if hasReservedPrefix(name3) || hasReservedPrefix(name4) {
			return sqlite3.AUTH_DENY
		}
	case sqlite3.AUTH_ALTER_TABLE:
		if hasReservedPrefix(name4) {
			return sqlite3.AUTH_DENY
		}
	}
	return sqlite3.AUTH_OK
}

func hasReservedPrefix(name string) bool {
	return len(name) >= len(reservedPrefix) && strings.EqualFold(name[:len(reservedPrefix)], reservedPrefix)
}

// RowsCollected returns how many result rows (of SELECT and RETURNING)
// apply has kept in Responses since Open: what requests made this node
// hold in memory, at most each request's Limits.MaxRows.
func (n *Node) RowsCollected() int64 { return n.rowsCollected.Load() }

// AppliedIndex returns the index of the last log entry applied: read from
// the database at Open, then advanced by each commit.
func (n *Node) AppliedIndex() uint64 { return n.applied.Load() }

// WaitApplied blocks until AppliedIndex() >= index, ctx is done, or the
// node is closed.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		n.waitMu.Lock()
		ch, closed := n.waitMu.advanced, n.waitMu.closed
		n.waitMu.Unlock()
		if n.applied.Load() >= index {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// setApplied publishes a new applied index and wakes waiters.
func (n *Node) setApplied(idx uint64) {
	n.applied.Store(idx)
	n.waitMu.Lock()
	close(n.waitMu.advanced)
	n.waitMu.advanced = make(chan struct{})
	n.waitMu.Unlock()
}

// Close closes the database. Pending WaitApplied calls return ErrClosed.
func (n *Node) Close() error {
	n.Interrupt()
	n.mu.Lock()
	conn := n.mu.conn
	n.mu.conn = nil
	stmtsErr := n.mu.stmts.closeAll()
	n.mu.Unlock()
	n.waitMu.Lock()
	if !n.waitMu.closed {
		n.waitMu.closed = true
		close(n.waitMu.advanced)
		n.waitMu.advanced = make(chan struct{})
	}
	n.waitMu.Unlock()
	if conn == nil {
		return ErrClosed
	}
	close(n.done)
	// Before the apply connection, so that it closes last (and
	// checkpoints on close).
	errs := []error{stmtsErr, n.stopCheckpointer()}
	// Closing read connections: take every token, so none is in use.
	for range cap(n.tokens) {
		n.tokens <- struct{}{}
	}
	for {
		select {
		case c := <-n.readers:
			errs = append(errs, n.dropStmts(c), c.Close())
			continue
		default:
		}
		break
	}
	errs = append(errs, conn.Close())
	return errors.Join(errs...)
}

// Check verifies the node's invariants: the stored applied index equals
// AppliedIndex(), and no transaction is left open on the apply connection.
func (n *Node) Check() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		return nil
	}
	if !n.mu.conn.GetAutocommit() {
		return fmt.Errorf("sqlnode: check: a transaction is open on the apply connection")
	}
	storageCause(n.mu.conn) // forget what failed before this read
	idx, err := readApplied(n.mu.conn)
	if err != nil {
		return fmt.Errorf("sqlnode: check: %w", readFailure(n.mu.conn, err))
	}
	if got := n.applied.Load(); got != idx {
		return fmt.Errorf("sqlnode: check: AppliedIndex %d, stored %d", got, idx)
	}
	return nil
}

// SyncsEveryCommit reports whether a Node opened with opts makes every
// commit durable (a rollback journal with synchronous FULL or EXTRA). If
// not (WAL with NORMAL, the default), only the index that Flush returns
// is durable. Path and VFS play no part; invalid modes report false.
func SyncsEveryCommit(opts Options) bool {
	opts.Path = "-" // fill wants one
	if err := opts.fill(); err != nil {
		return false
	}
	return opts.JournalMode != "WAL" || opts.Synchronous != "NORMAL"
}
