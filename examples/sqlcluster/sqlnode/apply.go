package sqlnode

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// Entry is one log entry handed to ApplyBatch.
type Entry struct {
	Index   uint64
	Command []byte
}

// Apply applies one log entry: ApplyBatch with a batch of one.
func (n *Node) Apply(index uint64, cmd []byte) (Response, error) {
	rs, err := n.ApplyBatch([]Entry{{Index: index, Command: cmd}})
	if err != nil {
		return Response{}, err
	}
	return rs[0], nil
}

// ApplyBatch applies entries, in increasing index order, in one
// transaction. Each entry runs inside its own savepoint and records its
// index in the same transaction, so a failing request rolls back its own
// statements only. An entry whose index is at or below AppliedIndex() is
// skipped (Response.Skipped): it is already in the database.
//
// SQL errors are results (in the Responses), the same on every node; so
// are ErrStepLimit (Options.MaxSteps) and ErrMaxRowid. An error return
// wraps ErrApply and means that this node could not apply the batch: the
// storage failed (whatever SQLite's code: SQLITE_FULL, IOERR, CORRUPT,
// READONLY, CANTOPEN, BUSY, ...; the storage's own error is attached, so
// that errors.Is finds, for example, a fencing refusal or ENOSPC), or
// Interrupt was called. The database and AppliedIndex are then as before
// the call, and the caller must retry or stop the node; such a failure
// never becomes a result.
func (n *Node) ApplyBatch(entries []Entry) ([]Response, error) {
	for i := 1; i < len(entries); i++ {
		if entries[i].Index <= entries[i-1].Index {
			return nil, fmt.Errorf("%w: indexes not increasing: %d after %d", ErrApply, entries[i].Index, entries[i-1].Index)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		return nil, ErrClosed
	}
	// A request can end the whole transaction (INSERT OR ROLLBACK,
	// RAISE(ROLLBACK)). Then the batch is redone without running that
	// entry's statements: its failure is already known, and the same on
	// every node.
	doomed := map[int]Response{}
	for attempt := 0; attempt <= len(entries); attempt++ {
		rs, lost, err := n.applyOnce(entries, doomed)
		if err != nil || lost >= 0 {
			n.mu.rowid.rolledBack()
		}
		if err != nil {
			// The storage's own error says more than SQLite's code (a
			// fencing refusal is not an I/O error): attach it.
			cause, _ := storageCause(n.mu.conn)
			err = withCause(err, cause)
			if n.bounds.stop.stopped() && !errors.Is(err, ErrClosed) {
				err = fmt.Errorf("%w (%w)", errInterrupted, err)
			}
			n.opts.Logger.Debug("sqlnode: apply failed", "first", entries[0].Index, "err", err)
			return nil, fmt.Errorf("%w: %w", ErrApply, err)
		}
		if lost < 0 {
			return rs, nil
		}
		doomed[lost] = rs[lost]
	}
	return nil, fmt.Errorf("%w: transaction kept being rolled back", ErrApply)
}

// applyOnce runs the batch in one transaction. If entry k's statements
// rolled back the whole transaction, it returns lost = k with rs[k] filled
// in; otherwise lost = -1 and the transaction is committed.
func (n *Node) applyOnce(entries []Entry, doomed map[int]Response) (rs []Response, lost int, err error) {
	conn := n.mu.conn
	applied := n.applied.Load()
	as := &n.mu.stmts
	if err := as.exec(conn, sqlBegin); err != nil {
		return nil, -1, err
	}
	defer func() {
		if err != nil && !conn.GetAutocommit() {
			// Even after Interrupt: leave no transaction open.
			old := conn.SetInterrupt(context.Background())
			conn.Exec("ROLLBACK")
			conn.SetInterrupt(old)
		}
	}()
	rs = make([]Response, len(entries))
	last := applied
	for k, e := range entries {
		rs[k].Index = e.Index
		if e.Index <= applied {
			rs[k].Skipped = true
			continue
		}
		// Recording the index first also sets changes() to 1, and
		// last_insert_rowid() is reset: both are then the same on every
		// node when the request starts.
		if err := as.setIndex(conn, e.Index); err != nil {
			return nil, -1, err
		}
		conn.SetLastInsertRowID(0)
		last = e.Index
		if d, ok := doomed[k]; ok {
			rs[k] = d
			continue
		}
		req, derr := DecodeRequest(e.Command)
		if derr != nil {
			rs[k].Error = derr.Error()
			continue
		}
		rolledBack, err := n.runRequest(conn, req, &rs[k])
		if err != nil {
			return nil, -1, err
		}
		if rolledBack {
			return rs, k, nil
		}
	}
	if err := as.exec(conn, sqlCommit); err != nil {
		return nil, -1, err
	}
	if last != applied {
		n.setApplied(last)
	}
	return rs, -1, nil
}

// runRequest runs one request inside a savepoint. It reports whether the
// request ended the enclosing transaction; err is a node-local failure
// (see applyFailure), which must not become a result.
func (n *Node) runRequest(conn *sqlite3.Conn, req Request, r *Response) (txLost bool, err error) {
	// One savepoint name serves every request: each is released, or the
	// whole transaction is gone, before the next starts.
	as := &n.mu.stmts
	if err := as.exec(conn, sqlSavepoint); err != nil {
		return false, err
	}
	storageCause(conn) // forget what failed before this request
	serr := n.runApplyStatements(conn, req, r)
	if errors.Is(serr, errGuardLook) {
		return false, serr
	}
	if serr != nil {
		fsErr, onAdapter := storageCause(conn)
		if n.bounds.stop.stopped() {
			return false, fmt.Errorf("%w (%w)", errInterrupted, serr)
		}
		if local := applyFailure(serr, fsErr, onAdapter); local != nil {
			return false, local
		}
	}
	if conn.GetAutocommit() {
		// The request rolled back the whole transaction.
		r.RolledBack = true
		return true, nil
	}
	if serr != nil {
		r.RolledBack = true
		if err := as.exec(conn, sqlRollTo); err != nil {
			return false, err
		}
	}
	return false, as.exec(conn, sqlRelease)
}

// runApplyStatements runs a request's statements, under the apply
// authorizer, the step bound, the request's result limits and the
// largest-rowid guard (see rowid.go). It returns the first statement's
// error, also recorded in the last Result.
func (n *Node) runApplyStatements(conn *sqlite3.Conn, req Request, r *Response) (err error) {
	b := n.bounds.budget
	b.arm(n.bounds.maxStep)
	g := &n.mu.rowid
	defer func() {
		b.disarm()
		g.watching, g.refused = false, nil
		if err != nil {
			g.rolledBack()
		}
	}()
	// before runs before each SQL statement is prepared.
	before := func() error {
		if g.refused != nil {
			return g.refused // the previous statement of the same text
		}
		if !g.needsLook() {
			return nil
		}
		// Our own statements: not the request's work, nor under its rules.
		n.mu.auth, b.armed, g.watching = authNone, false, false
		err := g.look(conn)
		n.mu.auth, b.armed, g.watching = authApply, true, true
		if err != nil {
			return fmt.Errorf("%w: %w", errGuardLook, err)
		}
		return nil
	}
	rows := newApplyBudget(req.Limits)
	defer func() { n.rowsCollected.Add(rows.collected()) }()
	for _, st := range req.Statements {
		n.mu.auth, g.watching = authApply, true
		var serr error
		r.Results, serr = runStatements(conn, st, true, r.Results, rows, before, &n.mu.stmts)
		n.mu.auth, g.watching = authNone, false
		if errors.Is(serr, errGuardLook) {
			return serr
		}
		if refused := g.refused; refused != nil {
			// Whatever the statement did after the hook saw the row (it
			// may have picked a random rowid): refused, on every node.
			failResult(&r.Results[len(r.Results)-1], refused)
			return refused
		}
		if serr == nil {
			continue
		}
		switch {
		case b.disarm() && !n.bounds.stop.stopped() && errors.Is(serr, sqlite3.INTERRUPT):
			// Stopped by the bound: the same on every node.
			serr = n.stepLimitError()
		case errors.Is(serr, ErrResultTooLarge):
			serr = fmt.Errorf("%w (the bounds of the request, set by the node that accepted it; rolled back)", serr)
		default:
			return serr
		}
		failResult(&r.Results[len(r.Results)-1], serr)
		return serr
	}
	return nil
}

// errGuardLook marks a failure of the rowid guard's look at the tables:
// node-local, never a result.
var errGuardLook = errors.New("sqlnode: looking for the largest rowid")

// Flush makes every applied entry durable and returns the applied index,
// which is then safe to compact the log up to. It commits one bookkeeping
// write with synchronous=EXTRA, which syncs the journal, the database and,
// for DELETE, the journal's directory, and so everything before it.
// (synchronous=FULL with TRUNCATE makes every commit durable, but NORMAL,
// and DELETE without EXTRA, can lose the last commit in a crash.)
func (n *Node) Flush() (uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	conn := n.mu.conn
	if conn == nil {
		return 0, ErrClosed
	}
	idx := n.applied.Load()
	storageCause(conn) // forget what failed before the flush
	// SQLite skips writing a row whose content does not change: change it
	// and change it back.
	err := conn.Exec("PRAGMA synchronous=EXTRA")
	if err == nil {
		err = conn.Exec(fmt.Sprintf("BEGIN IMMEDIATE; UPDATE %[1]s SET idx=-1 WHERE id=1; UPDATE %[1]s SET idx=%[2]d WHERE id=1; COMMIT", appliedTable, idx))
	}
	if err != nil {
		// The storage's own error (a fencing refusal is not an I/O
		// error), taken before the rollback can record more.
		cause, _ := storageCause(conn)
		err = withCause(err, cause)
		if !conn.GetAutocommit() {
			conn.Exec("ROLLBACK")
		}
	}
	if rerr := conn.Exec("PRAGMA synchronous=" + n.opts.Synchronous); err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("%w: flush: %w", ErrApply, err)
	}
	return idx, nil
}

// failResult turns res into the result of a statement that failed with
// err after it ran: what it returned or changed is rolled back, and may
// differ between nodes (a random rowid), so only the error stays.
func failResult(res *Result, err error) {
	res.Values, res.LastInsertID, res.RowsAffected = nil, 0, 0
	res.Error = err.Error()
}
