package sqlnode

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
)

const maxRowid = "9223372036854775807"

// maxRowidCase is a log whose last entry takes the largest rowid and, in
// the same statement, makes SQLite pick a random rowid (and deletes the
// largest row again, so that nothing is left to see after the
// statement).
type maxRowidCase struct {
	name  string
	setup [][]string // one request per element
	// attack must be refused with ErrMaxRowid.
	attack []string
	// after must succeed: the guard refuses the largest rowid, not the
	// tables.
	after []string
}

var maxRowidCases = []maxRowidCase{
	{
		name: "trigger",
		setup: [][]string{{"CREATE TABLE t(id INTEGER PRIMARY KEY, v)",
			"CREATE TRIGGER tg AFTER INSERT ON t WHEN NEW.v='go' BEGIN INSERT INTO t VALUES(" + maxRowid + ", 'max'); INSERT INTO t(v) VALUES('random'); DELETE FROM t WHERE id=" + maxRowid + "; END"}},
		attack: []string{"INSERT INTO t VALUES(1, 'go')"},
		after:  []string{"INSERT INTO t(v) VALUES('x')"},
	},
	{
		name: "insert select",
		setup: [][]string{{"CREATE TABLE h(v)",
			"CREATE TRIGGER hd AFTER INSERT ON h WHEN NEW.v='b' BEGIN DELETE FROM h WHERE rowid=" + maxRowid + "; END"}},
		attack: []string{"INSERT INTO h(rowid, v) SELECT column1, column2 FROM (VALUES(" + maxRowid + ", 'a'), (NULL, 'b'))"},
		after:  []string{"INSERT INTO h(v) SELECT column1 FROM (VALUES('c'), ('d'))"},
	},
	{
		name: "nested triggers",
		setup: [][]string{{"CREATE TABLE a(x)", "CREATE TABLE b(x)", "CREATE TABLE c(id INTEGER PRIMARY KEY, x)",
			"CREATE TRIGGER ab AFTER INSERT ON a BEGIN INSERT INTO b VALUES(NEW.x); END",
			"CREATE TRIGGER bc AFTER INSERT ON b BEGIN INSERT INTO c VALUES(" + maxRowid + ", 'max'); INSERT INTO c(x) VALUES(NEW.x); DELETE FROM c WHERE id=" + maxRowid + "; END"}},
		attack: []string{"INSERT INTO a VALUES('deep')"},
		after:  []string{"INSERT INTO c(x) VALUES('y')"},
	},
	{
		name: "update to the largest",
		setup: [][]string{{"CREATE TABLE u(id INTEGER PRIMARY KEY, v)", "INSERT INTO u VALUES(1, 'one')", "CREATE TABLE go(x)",
			"CREATE TRIGGER gu AFTER INSERT ON go BEGIN UPDATE u SET id=" + maxRowid + " WHERE id=1; INSERT INTO u(v) VALUES('random'); DELETE FROM u WHERE id=" + maxRowid + "; END"}},
		attack: []string{"INSERT INTO go VALUES(1)"},
		after:  []string{"UPDATE u SET id=2 WHERE id=1", "INSERT INTO u(v) VALUES('three')"},
	},
	{
		name: "upsert to the largest",
		setup: [][]string{{"CREATE TABLE p(id INTEGER PRIMARY KEY, v)", "INSERT INTO p VALUES(1, 'one')", "CREATE TABLE go2(x)",
			"CREATE TRIGGER gp AFTER INSERT ON go2 BEGIN INSERT INTO p VALUES(1, 'x') ON CONFLICT(id) DO UPDATE SET id=" + maxRowid + "; INSERT INTO p(v) VALUES('random'); DELETE FROM p WHERE id=" + maxRowid + "; END"}},
		attack: []string{"INSERT INTO go2 VALUES(1)"},
	},
	{
		name: "table created in the same request",
		attack: []string{"CREATE TABLE n(id INTEGER PRIMARY KEY, v)",
			"CREATE TRIGGER ng AFTER INSERT ON n WHEN NEW.v='go' BEGIN INSERT INTO n VALUES(" + maxRowid + ", 'max'); INSERT INTO n(v) VALUES('random'); DELETE FROM n WHERE id=" + maxRowid + "; END",
			"INSERT INTO n VALUES(1, 'go')"},
		after: []string{"CREATE TABLE n(id INTEGER PRIMARY KEY, v)", "INSERT INTO n VALUES(1, 'ok')"},
	},
	{
		name:   "table created in the same SQL text",
		attack: []string{"CREATE TABLE m(v); CREATE TRIGGER mg AFTER INSERT ON m WHEN NEW.v='go' BEGIN INSERT INTO m(rowid, v) VALUES(" + maxRowid + ", 'max'); INSERT INTO m(v) VALUES('random'); DELETE FROM m WHERE rowid=" + maxRowid + "; END; INSERT INTO m VALUES('go')"},
	},
	{
		name: "table renamed in the same request",
		setup: [][]string{{"CREATE TABLE r(id INTEGER PRIMARY KEY, v)",
			"CREATE TRIGGER rg AFTER INSERT ON r WHEN NEW.v='go' BEGIN INSERT INTO r VALUES(" + maxRowid + ", 'max'); INSERT INTO r(v) VALUES('random'); DELETE FROM r WHERE id=" + maxRowid + "; END"}},
		attack: []string{"ALTER TABLE r RENAME TO r2", "CREATE TABLE r(id INTEGER PRIMARY KEY, v)", "INSERT INTO r2 VALUES(1, 'go')"},
		after:  []string{"ALTER TABLE r RENAME TO r3", "INSERT INTO r3(v) VALUES('x')"},
	},
	{
		name: "rowid alias shadowed, key renamed in the same request",
		setup: [][]string{{"CREATE TABLE s(rowid, v, id INTEGER PRIMARY KEY)",
			"CREATE TRIGGER sg AFTER INSERT ON s WHEN NEW.v='go' BEGIN INSERT INTO s(id, v) VALUES(" + maxRowid + ", 'max'); INSERT INTO s(v) VALUES('random'); DELETE FROM s WHERE id=" + maxRowid + "; END"}},
		attack: []string{"ALTER TABLE s RENAME COLUMN id TO k", "INSERT INTO s(v) VALUES('go')"},
		after:  []string{"INSERT INTO s(v) VALUES('x')", "UPDATE s SET rowid=5"},
	},
	{
		name:  "table dropped and created again",
		setup: [][]string{{"CREATE TABLE d(id INTEGER PRIMARY KEY, v)"}},
		attack: []string{"DROP TABLE d", "CREATE TABLE d(v, id INTEGER PRIMARY KEY)",
			"CREATE TRIGGER dg AFTER INSERT ON d WHEN NEW.v='go' BEGIN INSERT INTO d VALUES('max', " + maxRowid + "); INSERT INTO d(v) VALUES('random'); DELETE FROM d WHERE id=" + maxRowid + "; END",
			"INSERT INTO d(v) VALUES('go')"},
	},
}

// TestNode_Apply_maxRowid_withinStatement: a statement that takes the
// largest rowid, inserts a row without one (SQLite then picks a random
// rowid, differently on each node) and deletes the largest row again left
// nothing for a check after the statement to see: the replicas diverged.
// The guard refuses it during the statement, the same on every node:
// two nodes that apply the same log, and a third that reopens before
// every entry (its guard built at Open), record the same results and end
// with the same checksum.
func TestNode_Apply_maxRowid_withinStatement(t *testing.T) {
	for _, tc := range maxRowidCases {
		t.Run(tc.name, func(t *testing.T) {
			a := memNode(t, vfs.NewMem(), Options{})
			b := memNode(t, vfs.NewMem(), Options{})
			cName := registerFS(t, vfs.NewMem())
			var log [][]byte
			for _, s := range tc.setup {
				log = append(log, command(t, s...))
			}
			attackAt := len(log)
			log = append(log, command(t, tc.attack...))
			if tc.after != nil {
				log = append(log, command(t, tc.after...))
			}
			var ra, rb, rc []Response
			for i, cmd := range log {
				idx := uint64(i + 1)
				ra = append(ra, applyOK(t, a, idx, cmd))
				rb = append(rb, applyOK(t, b, idx, cmd))
				c, err := Open(Options{VFS: cName, Path: "main.db"})
				must(t, err == nil, "open c: %v", err)
				r, err := c.Apply(idx, cmd)
				must(t, err == nil && c.Check() == nil, "apply c %d: %v", idx, err)
				must(t, c.Close() == nil, "close c")
				rc = append(rc, r)
			}
			must(t, reflect.DeepEqual(stripTime(ra), stripTime(rb)), "different results:\n%+v\n%+v", ra, rb)
			must(t, reflect.DeepEqual(stripTime(ra), stripTime(rc)), "different results after reopening:\n%+v\n%+v", ra, rc)
			for i, r := range ra {
				if i != attackAt {
					must(t, !r.RolledBack && r.Error == "", "entry %d: %+v", i+1, r)
					continue
				}
				last := r.Results[len(r.Results)-1]
				must(t, r.RolledBack && strings.Contains(last.Error, ErrMaxRowid.Error()), "attack: %+v", r)
			}
			c := openTestNode(t, Options{VFS: cName, Path: "main.db"})
			sums := map[Checksum]bool{}
			for _, n := range []*Node{a, b, c} {
				s, err := n.Checksum(context.Background())
				must(t, err == nil, "checksum: %v", err)
				sums[s] = true
			}
			must(t, len(sums) == 1, "checksums differ: %v", sums)
		})
	}
}

// TestNode_Apply_maxRowid_legacyWithinStatement: a table that held the
// largest rowid before the guard existed refuses inserts, including one
// whose statement deletes the largest row after the insert took a random
// rowid.
func TestNode_Apply_maxRowid_legacyWithinStatement(t *testing.T) {
	var sums []Checksum
	for range 2 {
		name := registerFS(t, vfs.NewMem())
		n := openTestNode(t, Options{VFS: name, Path: "main.db"})
		applyOK(t, n, 1, command(t, "CREATE TABLE lt(v)", "CREATE TABLE go(x)"))
		must(t, n.Close() == nil, "close")
		raw := openRaw(t, name)
		must(t, raw.Exec("INSERT INTO lt(rowid, v) VALUES("+maxRowid+", 'old'); CREATE TRIGGER lg AFTER INSERT ON go BEGIN INSERT INTO lt(v) VALUES('new'); DELETE FROM lt WHERE rowid="+maxRowid+"; END") == nil, "raw")
		must(t, raw.Close() == nil, "close raw")
		n = openTestNode(t, Options{VFS: name, Path: "main.db"})
		refused := func(r Response) bool {
			return r.RolledBack && strings.Contains(r.Results[len(r.Results)-1].Error, ErrMaxRowid.Error())
		}
		r := applyOK(t, n, 2, command(t, "INSERT INTO go VALUES(1)"))
		must(t, refused(r), "%+v", r)
		// Renamed in the same request, and renamed in a request that rolls
		// back: still refused.
		r = applyOK(t, n, 3, command(t, "ALTER TABLE lt RENAME TO lt2", "INSERT INTO lt2(rowid, v) VALUES(1, 'x')"))
		must(t, refused(r), "%+v", r)
		r = applyOK(t, n, 4, command(t, "ALTER TABLE lt RENAME TO lt3", "SELECT * FROM nosuch"))
		must(t, r.RolledBack, "%+v", r)
		r = applyOK(t, n, 5, command(t, "INSERT INTO lt(v) VALUES('y')"))
		must(t, refused(r), "%+v", r)
		r = applyOK(t, n, 6, command(t, "DELETE FROM lt"))
		must(t, !r.RolledBack, "%+v", r)
		r = applyOK(t, n, 7, command(t, "INSERT INTO go VALUES(2)"))
		must(t, !r.RolledBack, "%+v", r)
		s, err := n.Checksum(context.Background())
		must(t, err == nil, "%v", err)
		sums = append(sums, s)
	}
	must(t, sums[0] == sums[1], "checksums differ: %v", sums)
}

// openRaw opens main.db on the VFS name without sqlnode: a writer from
// before the guard.
func openRaw(t *testing.T, name string) *sqlite3.Conn {
	t.Helper()
	c, err := sqlite3.Open("file:main.db?vfs=" + name)
	must(t, err == nil, "open raw: %v", err)
	return c
}
