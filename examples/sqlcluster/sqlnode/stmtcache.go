package sqlnode

import (
	"errors"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Read connections keep their prepared single SELECTs (the point reads a
// client repeats), so that a read does not parse and plan its statement
// anew: preparing costs more than running a point read.
const (
	maxCachedStmts   = 32   // per read connection; the oldest goes first
	maxCachedSQLSize = 4096 // longer texts are not kept
)

// stmtCache is one read connection's prepared statements by SQL text.
//
// Concurrency: used only by the goroutine holding its connection (see
// acquireReader); Node.readStmts maps connections to their caches.
type stmtCache struct {
	stmts map[string]*sqlite3.Stmt
	order []string // insertion order, for eviction
}

// readStmts returns c's cache.
func (n *Node) readStmts(c *sqlite3.Conn) *stmtCache {
	if v, ok := n.stmtCaches.Load(c); ok {
		return v.(*stmtCache)
	}
	sc := &stmtCache{stmts: map[string]*sqlite3.Stmt{}}
	n.stmtCaches.Store(c, sc)
	return sc
}

// dropStmts closes and forgets c's cached statements (before c closes).
func (n *Node) dropStmts(c *sqlite3.Conn) error {
	v, ok := n.stmtCaches.LoadAndDelete(c)
	if !ok {
		return nil
	}
	return v.(*stmtCache).closeAll()
}

// runCached runs st, a single SELECT (singleSelect), on read connection c
// with a cached prepared statement, and appends its result to out as
// runStatements would. ok is false if it did not run st (a text too long
// to keep, one that does not prepare, or whose statement was re-prepared
// for a schema change while it ran: the column names read before its
// first step may be stale); a read has no effects, so the caller runs it
// the ordinary way then.
func (sc *stmtCache) runCached(c *sqlite3.Conn, st Statement, out []Result, b *budget) (_ []Result, err error, ok bool) {
	if len(st.SQL) > maxCachedSQLSize {
		return out, nil, false
	}
	start := time.Now()
	stmt := sc.stmts[st.SQL]
	if stmt == nil {
		s, tail, perr := c.Prepare(st.SQL)
		if perr != nil || s == nil {
			return out, nil, false
		}
		if !isBlank(tail) {
			s.Close()
			return out, nil, false
		}
		stmt = s
		sc.put(st.SQL, s)
	}
	reprepared := stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false)
	r, err := runOne(c, stmt, st.Params, false, false, b)
	stmt.Reset()
	stmt.ClearBindings()
	if stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false) != reprepared {
		sc.forget(st.SQL)
		return out, nil, false
	}
	r.Time = time.Since(start).Seconds()
	return append(out, r), err, true
}

// put keeps s, prepared from sql, closing the oldest statement kept if
// the cache is full.
func (sc *stmtCache) put(sql string, s *sqlite3.Stmt) {
	if sc.stmts == nil {
		sc.stmts = map[string]*sqlite3.Stmt{}
	}
	if len(sc.order) >= maxCachedStmts {
		old := sc.order[0]
		sc.order = sc.order[1:]
		sc.stmts[old].Close()
		delete(sc.stmts, old)
	}
	sc.stmts[sql] = s
	sc.order = append(sc.order, sql)
}

// closeAll closes and forgets every statement kept.
func (sc *stmtCache) closeAll() error {
	var errs []error
	for _, s := range sc.stmts {
		errs = append(errs, s.Close())
	}
	sc.stmts, sc.order = nil, nil
	return errors.Join(errs...)
}

// forget closes and drops the statement of sql.
func (sc *stmtCache) forget(sql string) {
	if s := sc.stmts[sql]; s != nil {
		s.Close()
		delete(sc.stmts, sql)
		for i, o := range sc.order {
			if o == sql {
				sc.order = append(sc.order[:i], sc.order[i+1:]...)
				break
			}
		}
	}
}
