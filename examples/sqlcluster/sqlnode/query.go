package sqlnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// busyTimeout bounds how long a connection waits for a lock (a WAL
// checkpoint, or a writer in rollback-journal modes).
const busyTimeout = 10 * time.Second

// readPragmasWithArg are the pragmas that read connections may run with an
// argument; every other pragma with an argument could change state.
var readPragmasWithArg = map[string]bool{
	"table_info": true, "table_xinfo": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true,
	"integrity_check": true, "quick_check": true, "table_list": true,
}

// readAuthorizer keeps read connections read-only: query_only=1 refuses
// writes, and this refuses turning it off, ATTACH, and state-changing
// pragmas.
func readAuthorizer(action sqlite3.AuthorizerActionCode, name3, name4, schema, inner string) sqlite3.AuthorizerReturnCode {
	switch action {
	case sqlite3.AUTH_ATTACH, sqlite3.AUTH_DETACH:
		return sqlite3.AUTH_DENY
	case sqlite3.AUTH_PRAGMA:
		name := strings.ToLower(name3)
		if name == "query_only" {
			switch strings.ToLower(name4) {
			case "", "1", "on", "true", "yes":
				return sqlite3.AUTH_OK
			}
			return sqlite3.AUTH_DENY
		}
		if name4 != "" && !readPragmasWithArg[name] {
			return sqlite3.AUTH_DENY
		}
	}
	return sqlite3.AUTH_OK
}

// setupReadConn makes conn read-only (and accept double-quoted strings,
// as the apply connection does).
func setupReadConn(conn *sqlite3.Conn) error {
	if err := enableDQS(conn); err != nil {
		return err
	}
	if err := conn.Exec("PRAGMA query_only=1"); err != nil {
		return err
	}
	// A reader that happens to close last must not checkpoint: on a
	// copier that would write the whole WAL into its overlay.
	if _, err := conn.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		return err
	}
	if err := conn.BusyTimeout(busyTimeout); err != nil {
		return err
	}
	return conn.SetAuthorizer(readAuthorizer)
}

// readOnlyError wraps an error from a read connection: a refused write
// gets ErrReadOnly, which says to use Execute.
func readOnlyError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sqlite3.READONLY) || errors.Is(err, sqlite3.AUTH) {
		return fmt.Errorf("%w (%w)", ErrReadOnly, err)
	}
	return err
}

// acquireReader returns a read connection; release it with releaseReader.
func (n *Node) acquireReader(ctx context.Context) (*sqlite3.Conn, error) {
	select {
	case <-n.done:
		return nil, ErrClosed
	default:
	}
	select {
	case n.tokens <- struct{}{}:
	case <-n.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	select {
	case c := <-n.readers:
		return c, nil
	default:
	}
	c, err := sqlite3.OpenFlags(n.uri, sqlite3.OPEN_READWRITE|sqlite3.OPEN_URI|sqlite3.OPEN_EXRESCODE)
	if err == nil {
		err = setupReadConn(c)
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		<-n.tokens
		return nil, fmt.Errorf("sqlnode: open read connection: %w", err)
	}
	return c, nil
}

func (n *Node) releaseReader(c *sqlite3.Conn) {
	if !c.GetAutocommit() {
		c.Exec("ROLLBACK")
	}
	n.readers <- c
	<-n.tokens
}

// Query runs stmts on this node's own database, in one read transaction
// (one consistent snapshot), and returns one Result per SQL statement.
// SQL errors are in the Results; Query stops at the first. A statement that
// would write gets an error wrapping ErrReadOnly in its Result.Error.
// If ctx carries ResultLimits (WithResultLimits), a result beyond them
// fails the whole Query with an error wrapping ErrResultTooLarge.
//
// Query does not wait for anything: to read your writes, call WaitApplied
// with the index of the write first (the raft layer does this).
func (n *Node) Query(ctx context.Context, stmts []Statement) ([]Result, error) {
	if n.opts.ExclusiveLocking {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.mu.conn == nil {
			return nil, ErrClosed
		}
		c := n.mu.conn
		if err := c.Exec("PRAGMA query_only=1"); err != nil {
			return nil, err
		}
		n.mu.auth = authRead
		defer func() {
			n.mu.auth = authNone
			c.Exec("PRAGMA query_only=0")
		}()
		storageCause(c) // forget what failed before this read
		rs, err := queryOn(ctx, c, stmts, nil)
		return queryFailure(c, stmts, rs, err)
	}
	c, err := n.acquireReader(ctx)
	if err != nil {
		return nil, err
	}
	defer n.releaseReader(c)
	// A read connection is query_only from setupReadConn on, and its
	// authorizer refuses turning that off: no pragma per read.
	storageCause(c) // forget what failed before this read
	rs, err := queryOn(ctx, c, stmts, n.readStmts(c))
	return queryFailure(c, stmts, rs, err)
}

// queryFailure is readFailure for Query's result rs and error err on c.
// An integrity check (PRAGMA integrity_check or quick_check, or their
// table-valued functions) during which the storage failed reports the
// pages it could not read as result rows ("unable to get the page"), as
// if the database were corrupt: the storage's error (cow.ErrInvalidated
// on a copier whose lease lapsed) is returned instead, so that a refusal
// is not taken for corruption.
func queryFailure(c *sqlite3.Conn, stmts []Statement, rs []Result, err error) ([]Result, error) {
	if err != nil {
		return rs, readFailure(c, err)
	}
	if !slices.ContainsFunc(stmts, func(st Statement) bool { return checksIntegrity(st.SQL) }) {
		return rs, nil
	}
	if cause, _ := storageCause(c); cause != nil {
		return nil, storageFailedCheck(cause)
	}
	return rs, nil
}

// checksIntegrity reports whether sql may run an integrity check, whose
// result does not say whether the storage failed while it ran. A false
// positive only costs an extra look at the storage's recorded error.
func checksIntegrity(sql string) bool {
	sql = strings.ToLower(sql)
	return strings.Contains(sql, "integrity_check") || strings.Contains(sql, "quick_check")
}

// storageFailedCheck is the error of an integrity check during which the
// storage failed with cause.
func storageFailedCheck(cause error) error {
	return fmt.Errorf("sqlnode: the storage failed during an integrity check, whose result is then not the database's: %w", cause)
}

// queryOn runs stmts on c in one read transaction. A single SELECT runs
// with a statement from sc, c's cache, if sc is not nil.
func queryOn(ctx context.Context, c *sqlite3.Conn, stmts []Statement, sc *stmtCache) (_ []Result, err error) {
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)
	// One SELECT is a read transaction by itself: no BEGIN and ROLLBACK
	// to prepare and run around a point read.
	single := len(stmts) == 1 && singleSelect(stmts[0].SQL)
	if !single {
		if err := c.Exec("BEGIN"); err != nil {
			return nil, err
		}
		defer func() {
			if rerr := c.Exec("ROLLBACK"); rerr != nil && err == nil && !c.GetAutocommit() {
				err = rerr
			}
		}()
	}
	var out []Result
	b := newBudget(ctx)
	for _, st := range stmts {
		var serr error
		ran := false
		if single && sc != nil {
			out, serr, ran = sc.runCached(c, st, out, b)
		}
		if !ran {
			out, serr = runStatements(c, st, false, out, b, nil, nil)
		}
		if serr != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if errors.Is(serr, ErrResultTooLarge) {
				return nil, serr
			}
			if nodeLocal(serr) && !errors.Is(serr, sqlite3.READONLY) {
				return nil, serr
			}
			out[len(out)-1].Error = readOnlyError(serr).Error()
			break
		}
	}
	return out, nil
}
