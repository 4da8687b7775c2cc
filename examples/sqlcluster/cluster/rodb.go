package cluster

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
)

// roDB is the node's read-only *sql.DB. Its connections come from the
// database open at the time (sqlnode.ReadOnlyConnector); when the engine
// closes the database (reset, failover), idle connections are dropped and
// busy ones are refused at their next use, so that the database can
// close, and the pool reconnects on the new view.
//
// Concurrency: safe for concurrent use.
type roDB struct {
	e  *engine
	db *sql.DB

	// mu guards the fields in it; cond signals live dropping.
	mu struct {
		sync.Mutex
		gen  uint64 // bumped by drain: older connections are stale
		live int    // open connections of gen
		cond *sync.Cond
	}
}

func newRoDB(e *engine) *roDB {
	r := &roDB{e: e}
	r.mu.cond = sync.NewCond(&r.mu.Mutex)
	r.db = sql.OpenDB(roConnector{r})
	return r
}

type roConnector struct{ r *roDB }

func (c roConnector) Driver() driver.Driver { return roDriver{} }

func (c roConnector) Connect(ctx context.Context) (driver.Conn, error) {
	db, release, err := c.r.e.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	conn, err := db.ReadOnlyConnector()
	if err != nil {
		return nil, err
	}
	// The engine cannot close db while we hold it (release): count the
	// connection under the current generation before letting go.
	dc, err := conn.Connect(ctx)
	if err != nil {
		return nil, invalidatedNotReady(err)
	}
	c.r.mu.Lock()
	gen := c.r.mu.gen
	c.r.mu.live++
	c.r.mu.Unlock()
	return &roConn{inner: dc, r: c.r, gen: gen}, nil
}

type roDriver struct{}

func (roDriver) Open(string) (driver.Conn, error) {
	return nil, fmt.Errorf("cluster: open the read-only database through Node.ReadOnlyDB")
}

// drain makes every connection stale, closes the idle ones and waits up to
// d for the busy ones to be returned. Called with the engine's apply lock
// held, after the database was withdrawn (no new connection can start).
func (r *roDB) drain(d time.Duration) {
	r.mu.Lock()
	r.mu.gen++
	r.mu.Unlock()
	r.db.SetMaxIdleConns(0) // closes idle connections (stale ones refuse reuse)
	r.db.SetMaxIdleConns(2)
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() { r.mu.Lock(); r.mu.cond.Broadcast(); r.mu.Unlock() })
	defer t.Stop()
	r.mu.Lock()
	for r.mu.live > 0 && time.Now().Before(deadline) {
		r.mu.cond.Wait()
	}
	if r.mu.live > 0 {
		r.e.log.Warn("cluster: read-only connections still busy while the database closes", "node", r.e.id, "busy", r.mu.live)
	}
	r.mu.Unlock()
}

func (r *roDB) close() { r.db.Close() }

func (r *roDB) stale(gen uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return gen != r.mu.gen
}

// roConn forwards to the sqlnode connection, and refuses to be reused once
// its database was withdrawn, except inside a transaction begun before:
// that one goes on (the database closes once it ends, or after drain's
// wait), so that a read transaction sees one state to its end.
type roConn struct {
	inner driver.Conn
	r     *roDB
	gen   uint64
	once  sync.Once
	inTx  bool // database/sql uses a connection from one goroutine at a time
}

// refused reports whether the connection must not run a statement.
func (c *roConn) refused() bool { return !c.inTx && c.r.stale(c.gen) }

// roTx ends the transaction's exemption from staleness.
type roTx struct {
	driver.Tx
	c *roConn
}

func (t roTx) Commit() error   { t.c.inTx = false; return t.Tx.Commit() }
func (t roTx) Rollback() error { t.c.inTx = false; return t.Tx.Rollback() }

var (
	_ driver.Conn               = (*roConn)(nil)
	_ driver.ConnBeginTx        = (*roConn)(nil)
	_ driver.ConnPrepareContext = (*roConn)(nil)
	_ driver.ExecerContext      = (*roConn)(nil)
	_ driver.NamedValueChecker  = (*roConn)(nil)
	_ driver.SessionResetter    = (*roConn)(nil)
	_ driver.Validator          = (*roConn)(nil)
)

func (c *roConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *roConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if c.refused() {
		return nil, driver.ErrBadConn
	}
	if err := c.guard(ctx); err != nil {
		return nil, err
	}
	st, err := c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, invalidatedNotReady(err)
	}
	return &roStmt{Stmt: st, c: c}, nil
}

// guard refuses a statement or transaction that would start reading a
// writer view while this node cannot prove it is the writer (see
// engine.guardView). It is checked when a statement starts, not while its
// rows stream: on the writer, Node.Query (checked before and after) is the
// safer read.
func (c *roConn) guard(ctx context.Context) error {
	return c.r.e.guardView(ctx, c.r.e.publishedView())
}

// roStmt checks the writer Guard before each execution of a prepared
// statement (it may be reused long after it was prepared). Its errors,
// and its rows', report a read that an invalidated copier view refused
// as ErrNotReady (invalidatedNotReady), as Node.Query does.
type roStmt struct {
	driver.Stmt
	c *roConn
}

var (
	_ driver.StmtQueryContext  = (*roStmt)(nil)
	_ driver.StmtExecContext   = (*roStmt)(nil)
	_ driver.NamedValueChecker = (*roStmt)(nil)
)

func (s *roStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.guard(ctx); err != nil {
		return nil, err
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, invalidatedNotReady(err)
	}
	if rr, ok := rows.(typedRows); ok {
		return roTypedRows{typedRows: rr}, nil
	}
	return roRows{Rows: rows}, nil
}

// typedRows are rows that describe their column types, as sqlnode's do.
type typedRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypeScanType
}

// roRows and roTypedRows report a read that an invalidated copier view
// refused as ErrNotReady.
type roRows struct{ driver.Rows }

func (r roRows) Next(dest []driver.Value) error { return invalidatedNotReady(r.Rows.Next(dest)) }

type roTypedRows struct{ typedRows }

func (r roTypedRows) Next(dest []driver.Value) error {
	return invalidatedNotReady(r.typedRows.Next(dest))
}

func (s *roStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.guard(ctx); err != nil {
		return nil, err
	}
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, invalidatedNotReady(err)
}

func (s *roStmt) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return s.c.CheckNamedValue(v)
}

func (c *roConn) Close() error {
	err := c.inner.Close()
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.mu.live--
		c.r.mu.cond.Broadcast()
		c.r.mu.Unlock()
	})
	return err
}

func (c *roConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *roConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.r.stale(c.gen) {
		return nil, driver.ErrBadConn
	}
	if err := c.guard(ctx); err != nil {
		return nil, err
	}
	tx, err := c.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, invalidatedNotReady(err)
	}
	c.inTx = true
	return roTx{Tx: tx, c: c}, nil
}

func (c *roConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if c.refused() {
		return nil, driver.ErrBadConn
	}
	if err := c.guard(ctx); err != nil {
		return nil, err
	}
	res, err := c.inner.(driver.ExecerContext).ExecContext(ctx, q, args)
	return res, invalidatedNotReady(err) // driver.ErrSkip passes unchanged
}

func (c *roConn) CheckNamedValue(v *driver.NamedValue) error {
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(v)
}

func (c *roConn) ResetSession(ctx context.Context) error {
	if c.r.stale(c.gen) {
		return driver.ErrBadConn
	}
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

func (c *roConn) IsValid() bool {
	return !c.r.stale(c.gen) && c.inner.(driver.Validator).IsValid()
}
