package sqlnode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// DefaultMaxSteps is Options.MaxSteps's default: 15 s or so of work for
// one request on a loaded 2-core machine (about 13 million VM steps a
// second there), room for an INSERT ... SELECT of some 20 million rows.
const DefaultMaxSteps = 200_000_000

// stepUnit is how many SQLite VM instructions one check of the budget
// stands for: ncruces runs SQLite's progress handler every 1000
// instructions.
const stepUnit = 1000

// ErrStepLimit reports a request that ran past Options.MaxSteps. During
// apply it is a result (the request rolls back, the same on every node,
// and the index advances); before the log (Precheck) it also wraps
// ErrRejected.
var ErrStepLimit = errors.New("sqlnode: step limit exceeded")

// errInterrupted is what the budget reports once Interrupt was called.
var errInterrupted = fmt.Errorf("%w: interrupted", ErrClosed)

// stepBudget bounds the work of a connection's statements. It is the
// connection's interrupt context (sqlite3.Conn.SetInterrupt): ncruces
// calls Err when SQLite's progress handler runs (every stepUnit VM
// instructions) and before each Prepare, Step and Exec. While armed, each
// call counts one unit and, once the count passes the limit, Err fails,
// which makes SQLite stop the statement with SQLITE_INTERRUPT. These
// calls depend only on the statements and the database's logical content,
// so the count is the same on every node; the busy handler, whose calls
// depend on this node's timing, takes its call back (busy).
//
// Concurrency: used by the goroutine that holds the connection; stop is
// safe for concurrent use.
type stepBudget struct {
	parent context.Context // cancellation besides the budget
	stop   *stopper
	limit  int64 // units; 0 means unbounded
	used   int64
	armed  bool
	halt   error // while armed, stop the statement with this error (the rowid guard's refusal)
}

var _ context.Context = (*stepBudget)(nil)

func (b *stepBudget) Deadline() (time.Time, bool) { return b.parent.Deadline() }
func (b *stepBudget) Done() <-chan struct{}       { return b.parent.Done() }
func (b *stepBudget) Value(key any) any           { return b.parent.Value(key) }

// Err implements context.Context; see stepBudget.
func (b *stepBudget) Err() error {
	if b.armed && b.halt != nil {
		return b.halt
	}
	if b.armed {
		b.used++
		if b.limit > 0 && b.used > b.limit {
			return ErrStepLimit
		}
	}
	if b.stop.stopped() {
		return errInterrupted
	}
	return b.parent.Err()
}

// arm starts counting from zero, with a limit of maxSteps VM instructions
// (0: unbounded).
func (b *stepBudget) arm(maxSteps int64) {
	b.used, b.armed, b.halt = 0, true, nil
	b.limit = 0
	if maxSteps > 0 {
		b.limit = max(maxSteps/stepUnit, 1)
	}
}

// disarm stops counting and reports whether the limit was passed.
func (b *stepBudget) disarm() (exceeded bool) {
	exceeded = b.limit > 0 && b.used > b.limit
	b.armed, b.halt = false, nil
	return exceeded
}

// busy is the apply connection's busy handler: it waits for a lock up to
// busyTimeout, as BusyTimeout would, and takes back the budget unit that
// ncruces's check before calling it counted.
func (b *stepBudget) busy(start *time.Time) func(ctx context.Context, count int) bool {
	return func(ctx context.Context, count int) bool {
		if b.armed {
			b.used--
		}
		if count == 0 {
			*start = time.Now()
		} else if time.Since(*start) >= busyTimeout {
			return false
		}
		time.Sleep(min(time.Duration(count+1)*time.Millisecond, 20*time.Millisecond))
		return true
	}
}

// stopper is closed once, by Interrupt.
//
// Concurrency: safe for concurrent use.
type stopper struct {
	once sync.Once
	ch   chan struct{}
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }

func (s *stopper) close() { s.once.Do(func() { close(s.ch) }) }

func (s *stopper) stopped() bool {
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}

// bounds is the Node's share of the step bound: the apply connection's
// budget and the stopper that Interrupt closes.
type bounds struct {
	stop    *stopper
	budget  *stepBudget // the apply connection's; used under mu
	busyAt  time.Time   // the busy handler's start; used under mu
	maxStep int64
}

// setupBounds installs the budget and the busy handler on the apply
// connection.
func (n *Node) setupBounds(conn *sqlite3.Conn) error {
	n.bounds.stop = newStopper()
	n.bounds.maxStep = n.opts.MaxSteps
	n.bounds.budget = &stepBudget{parent: context.Background(), stop: n.bounds.stop}
	conn.SetInterrupt(n.bounds.budget)
	return conn.BusyHandler(n.bounds.budget.busy(&n.bounds.busyAt))
}

// Interrupt makes the apply in progress, if any, and every later one fail
// with an error wrapping ErrApply and ErrClosed, without waiting for the
// apply lock. Call it to shut down a node whose apply may be running a
// long request; Close calls it.
func (n *Node) Interrupt() { n.bounds.stop.close() }

// stepLimitError is the result error of a request stopped by the bound.
func (n *Node) stepLimitError() error {
	return fmt.Errorf("%w: the request ran more than %d SQLite steps (Options.MaxSteps) and was rolled back", ErrStepLimit, n.bounds.maxStep)
}

// Precheck runs, on a read connection and with the apply bound, the
// read-only statements at the start of req (those before its first
// statement that writes, or that does not prepare on its own), and
// returns an error wrapping ErrRejected and ErrStepLimit if one of them
// runs past MaxSteps: the accepting node refuses such a request before it
// enters the log, rather than have every node spend the bound on it. Any
// other failure is no reason to refuse: it returns nil, and apply decides.
//
// A statement that reads no table (a recursive CTE that never ends) holds
// no lock; one that reads tables holds back the applier while it runs,
// as any read does with a rollback journal.
func (n *Node) Precheck(ctx context.Context, req Request) error {
	if n.bounds.maxStep <= 0 || n.opts.ExclusiveLocking {
		return nil
	}
	// The loop below stops at the first statement that is not read-only;
	// one that starts with a writing keyword is never read-only, so a
	// request that starts with one needs no preparation (most writes).
	if len(req.Statements) == 0 || startsWithWrite(req.Statements[0].SQL) {
		return nil
	}
	c, err := n.acquireReader(ctx)
	if err != nil {
		return nil
	}
	defer n.releaseReader(c)
	b := &stepBudget{parent: ctx, stop: n.bounds.stop}
	old := c.SetInterrupt(b)
	defer c.SetInterrupt(old)
	for _, st := range req.Statements {
		sql := st.SQL
		for range 1 << 10 { // bounded: each round consumes a statement
			stmt, tail, err := c.Prepare(sql)
			if err != nil {
				return nil
			}
			if stmt == nil {
				break // only spaces and comments left
			}
			ok := stmt.ReadOnly() && (len(st.Params) == 0 || isBlank(tail)) && bindParams(stmt, st.Params) == nil
			if !ok {
				stmt.Close()
				return nil
			}
			b.arm(n.bounds.maxStep)
			for stmt.Step() {
			}
			exceeded := b.disarm()
			stmt.Close()
			if exceeded {
				return fmt.Errorf("%w: %w", ErrRejected, n.stepLimitError())
			}
			sql = tail
		}
	}
	return nil
}

func isBlank(s string) bool {
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', ';':
		default:
			return false
		}
	}
	return true
}
