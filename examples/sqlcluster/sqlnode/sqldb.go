package sqlnode

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// ReadOnlyDB returns a database/sql handle on this node's own database,
// for programs that already speak database/sql. Every connection is
// read-only: a write fails with an error wrapping ErrReadOnly, whose message
// says to use Execute. Reads see this node's applied state, as Query does,
// and a read that fails because the storage did carries the storage's
// error, as Query's does (see the package doc). The caller closes the *sql.DB (before closing the Node).
//
// It fails with ExclusiveLocking, which leaves no room for other
// connections.
func (n *Node) ReadOnlyDB() (*sql.DB, error) {
	c, err := n.ReadOnlyConnector()
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// ReadOnlyConnector returns the driver.Connector behind ReadOnlyDB, for a
// caller that builds its own *sql.DB (a raft layer whose handle outlives
// one Node when the database is reopened). The caller closes every
// connection it made before closing the Node.
func (n *Node) ReadOnlyConnector() (driver.Connector, error) {
	if n.opts.ExclusiveLocking {
		return nil, fmt.Errorf("sqlnode: ReadOnlyDB is unavailable with ExclusiveLocking; use Query")
	}
	// Deferred BEGIN: the driver would otherwise BEGIN IMMEDIATE, which
	// takes a write lock, and fails on a query_only connection.
	dsn := n.uri + "?_txlock=deferred"
	if strings.Contains(n.uri, "?") {
		dsn = n.uri + "&_txlock=deferred"
	}
	inner, err := (&sqlite3driver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &roConnector{inner: inner}, nil
}

// roConnector makes read-only connections and wraps their errors.
type roConnector struct{ inner driver.Connector }

var (
	_ driver.Connector          = (*roConnector)(nil)
	_ driver.Conn               = (*roConn)(nil)
	_ driver.ConnBeginTx        = (*roConn)(nil)
	_ driver.ConnPrepareContext = (*roConn)(nil)
	_ driver.ExecerContext      = (*roConn)(nil)
	_ driver.NamedValueChecker  = (*roConn)(nil)
	_ driver.StmtExecContext    = (*roStmt)(nil)
	_ driver.StmtQueryContext   = (*roStmt)(nil)
	_ driver.NamedValueChecker  = (*roStmt)(nil)
)

func (c *roConnector) Driver() driver.Driver { return c.inner.Driver() }

func (c *roConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	raw, ok := dc.(interface{ Raw() *sqlite3.Conn })
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlnode: unexpected driver connection %T", dc)
	}
	if err := setupReadConn(raw.Raw()); err != nil {
		dc.Close()
		return nil, err
	}
	return &roConn{inner: dc, raw: raw.Raw()}, nil
}

// roConn is a driver connection whose write errors wrap ErrReadOnly, and
// whose errors from a failing storage carry the storage's error (see
// readFailure): each call forgets what failed before it (take), and
// attaches what failed during it (fail).
type roConn struct {
	inner driver.Conn
	raw   *sqlite3.Conn
}

// take forgets what the storage failed with before a call.
func (c *roConn) take() { storageCause(c.raw) }

// fail is the error to return for err, the inner connection's.
func (c *roConn) fail(err error) error { return readOnlyError(readFailure(c.raw, err)) }

func (c *roConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *roConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.take()
	st, err := c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, c.fail(err)
	}
	return &roStmt{inner: st, c: c, check: checksIntegrity(q)}, nil
}

func (c *roConn) Close() error { return c.inner.Close() }

func (c *roConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *roConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.take()
	tx, err := c.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	return tx, c.fail(err)
}

func (c *roConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.take()
	r, err := c.inner.(driver.ExecerContext).ExecContext(ctx, q, args)
	if err == driver.ErrSkip {
		return nil, err
	}
	return r, c.fail(err)
}

func (c *roConn) CheckNamedValue(v *driver.NamedValue) error {
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(v)
}

func (c *roConn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *roConn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// roStmt is a statement of a roConn; check is whether it may run an
// integrity check (see queryFailure).
type roStmt struct {
	inner driver.Stmt
	c     *roConn
	check bool
}

func (s *roStmt) Close() error  { return s.inner.Close() }
func (s *roStmt) NumInput() int { return s.inner.NumInput() }

func (s *roStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.c.take()
	r, err := s.inner.Exec(args) //nolint:staticcheck // required by driver.Stmt
	return r, s.c.fail(err)
}

func (s *roStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.c.take()
	r, err := s.inner.Query(args) //nolint:staticcheck // required by driver.Stmt
	if err != nil {
		return nil, s.c.fail(err)
	}
	return &roRows{inner: r, s: s}, nil
}

func (s *roStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.take()
	r, err := s.inner.(driver.StmtExecContext).ExecContext(ctx, args)
	return r, s.c.fail(err)
}

func (s *roStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.take()
	r, err := s.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, s.c.fail(err)
	}
	return &roRows{inner: r, s: s}, nil
}

func (s *roStmt) CheckNamedValue(v *driver.NamedValue) error {
	return s.inner.(driver.NamedValueChecker).CheckNamedValue(v)
}

// roRows are the rows of a roStmt's query. An integrity check during
// which the storage failed ends with the storage's error instead of
// io.EOF (see queryFailure): the rows it returned say what it could not
// read, not that the database is corrupt.
type roRows struct {
	inner driver.Rows
	s     *roStmt
}

func (r *roRows) Columns() []string { return r.inner.Columns() }
func (r *roRows) Close() error      { return r.inner.Close() }

func (r *roRows) Next(dest []driver.Value) error {
	err := r.inner.Next(dest)
	if err == io.EOF && r.s.check {
		if cause, _ := storageCause(r.s.c.raw); cause != nil {
			return storageFailedCheck(cause)
		}
	}
	return r.s.c.fail(err)
}

func (r *roRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.inner.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *roRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.inner.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *roRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.inner.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
