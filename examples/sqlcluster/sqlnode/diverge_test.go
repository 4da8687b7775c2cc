package sqlnode

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/ncruces/go-sqlite3"
)

func must(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v does not wrap %v", err, target)
	}
}

// memNode opens a node on the adapter over fsys.
func memNode(t *testing.T, fsys vfs.FS, opts Options) *Node {
	t.Helper()
	opts.VFS, opts.Path = registerFS(t, fsys), "main.db"
	return openTestNode(t, opts)
}

func applyOK(t *testing.T, n *Node, index uint64, cmd []byte) Response {
	t.Helper()
	r, err := n.Apply(index, cmd)
	must(t, err == nil, "apply %d: %v", index, err)
	return r
}

func count(t *testing.T, n *Node, sql string) int64 {
	t.Helper()
	rs, err := n.Query(context.Background(), []Statement{{SQL: sql}})
	must(t, err == nil && rs[0].Error == "", "%s: %v %+v", sql, err, rs)
	return rs[0].Values[0][0].(int64)
}

// TestNode_Apply_diskFullIsNotAResult: SQLITE_FULL from a full disk
// reaches ncruces's caller as a bare result code, which the old
// classification (a type assertion to *sqlite3.Error) missed: the DELETE
// was recorded as failed with "database or disk is full", and the index
// advanced, on the node whose disk was full only.
func TestNode_Apply_diskFullIsNotAResult(t *testing.T) {
	mem := vfs.NewMem()
	quota := errorfs.NewQuota(mem)
	n := memNode(t, errorfs.WithErrors(mem, quota), Options{})
	applyOK(t, n, 1, command(t, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"))
	for i := uint64(2); i < 40; i++ {
		applyOK(t, n, i, command(t, "INSERT INTO t(v) VALUES(printf('%.500c', 'x'))"))
	}
	// Room for a small transaction (the index alone), not for the DELETE.
	if err := quota.Fill(3 * 4096); err != nil {
		t.Fatal(err)
	}
	del := command(t, "DELETE FROM t WHERE id % 2 = 0")
	_, err := n.Apply(40, del)
	mustIs(t, err, ErrApply)
	must(t, IsStorageFull(err), "IsStorageFull(%v)", err)
	mustIs(t, err, syscall.ENOSPC) // the storage's error is attached
	must(t, n.AppliedIndex() == 39, "applied %d", n.AppliedIndex())
	quota.SetLimit(0)
	r := applyOK(t, n, 40, del)
	must(t, !r.RolledBack, "%+v", r)
	must(t, count(t, n, "SELECT count(*) FROM t") == 19, "rows left")
}

// TestNode_Apply_sqlFullIsAResult: SQLITE_FULL that SQLite raises by
// itself (no rowid left for an AUTOINCREMENT table) is the same on every
// node: a result, not a node failure that would stop the cluster.
func TestNode_Apply_sqlFullIsAResult(t *testing.T) {
	n := memNode(t, vfs.NewMem(), Options{})
	applyOK(t, n, 1, command(t, "CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, v)", "INSERT INTO a(v) VALUES(1)"))
	applyOK(t, n, 2, command(t, "UPDATE sqlite_sequence SET seq=9223372036854775807 WHERE name='a'"))
	r := applyOK(t, n, 3, command(t, "INSERT INTO a(v) VALUES(2)"))
	must(t, r.RolledBack && strings.Contains(r.Results[0].Error, "full"), "%+v", r)
	must(t, n.AppliedIndex() == 3, "applied %d", n.AppliedIndex())
}

const neverEnds = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"

// TestNode_Apply_stepLimit: a request that never ends fails once it has
// run MaxSteps, with the same result on every node and on a replay after a
// reopening; later requests proceed.
func TestNode_Apply_stepLimit(t *testing.T) {
	const maxSteps = 100_000
	shared := vfs.NewMem()
	a := memNode(t, shared, Options{MaxSteps: maxSteps})
	b := memNode(t, vfs.NewMem(), Options{MaxSteps: maxSteps})
	setup := command(t, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)", "INSERT INTO t VALUES(1, 'one')")
	poison := []byte(nil)
	for _, sql := range []string{neverEnds, "INSERT INTO t(v) " + strings.Replace(neverEnds, "count(*)", "x", 1)} {
		poison = command(t, "INSERT INTO t VALUES(2, 'two')", sql)
		var got []Response
		for _, n := range []*Node{a, b} {
			if n.AppliedIndex() == 0 {
				applyOK(t, n, 1, setup)
			}
			idx := n.AppliedIndex() + 1
			start := time.Now()
			r := applyOK(t, n, idx, poison)
			t.Logf("%.40s: stopped after %v", sql, time.Since(start))
			must(t, r.RolledBack && strings.Contains(r.Results[len(r.Results)-1].Error, ErrStepLimit.Error()), "%+v", r)
			must(t, n.AppliedIndex() == idx, "applied %d", n.AppliedIndex())
			must(t, count(t, n, "SELECT count(*) FROM t") == 1, "not rolled back")
			got = append(got, r)
		}
		must(t, reflect.DeepEqual(stripTime(got[:1]), stripTime(got[1:])), "different results: %+v", got)
		applyOK(t, a, a.AppliedIndex()+1, command(t, "INSERT INTO t VALUES(3, 'three')"))
		applyOK(t, b, b.AppliedIndex()+1, command(t, "INSERT INTO t VALUES(3, 'three')"))
		applyOK(t, a, a.AppliedIndex()+1, command(t, "DELETE FROM t WHERE id=3"))
		applyOK(t, b, b.AppliedIndex()+1, command(t, "DELETE FROM t WHERE id=3"))
	}
	// A replay from before the poison, on a reopened copy, ends the same.
	c := memNode(t, vfs.NewMem(), Options{MaxSteps: maxSteps})
	applyOK(t, c, 1, setup)
	r := applyOK(t, c, 2, poison)
	must(t, r.RolledBack && c.AppliedIndex() == 2, "replay: %+v", r)
}

// TestNode_Interrupt stops an apply that runs without a bound, without
// waiting for it: the apply fails (ErrApply, ErrClosed) and the entry is
// not applied.
func TestNode_Interrupt(t *testing.T) {
	n := memNode(t, vfs.NewMem(), Options{MaxSteps: -1})
	applyOK(t, n, 1, command(t, "CREATE TABLE t(x)"))
	done := make(chan error, 1)
	go func() {
		_, err := n.Apply(2, command(t, neverEnds))
		done <- err
	}()
	// Wait until the apply runs (it holds the apply lock), then interrupt.
	deadline := time.After(10 * time.Second)
	for n.mu.TryLock() {
		n.mu.Unlock()
		select {
		case <-deadline:
			t.Fatal("the apply did not start")
		case <-time.After(time.Millisecond):
		}
	}
	n.Interrupt()
	select {
	case err := <-done:
		mustIs(t, err, ErrApply)
		mustIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Interrupt did not stop the apply")
	}
	must(t, n.AppliedIndex() == 1, "applied %d", n.AppliedIndex())
	_, err := n.Apply(2, command(t, "INSERT INTO t VALUES(1)"))
	mustIs(t, err, ErrClosed) // every later apply too
	must(t, n.Close() == nil, "close")
}

// TestNode_Precheck refuses, before the log, read-only work past the
// bound, and lets everything else through.
func TestNode_Precheck(t *testing.T) {
	n := memNode(t, vfs.NewMem(), Options{MaxSteps: 100_000})
	applyOK(t, n, 1, command(t, "CREATE TABLE t(x)"))
	ctx := context.Background()
	err := n.Precheck(ctx, Request{Statements: []Statement{{SQL: neverEnds}}})
	mustIs(t, err, ErrRejected)
	mustIs(t, err, ErrStepLimit)
	err = n.Precheck(ctx, Request{Statements: []Statement{{SQL: "SELECT 1; " + neverEnds}}})
	mustIs(t, err, ErrStepLimit)
	for _, ok := range []Request{
		{Statements: []Statement{{SQL: "SELECT count(*) FROM t"}, {SQL: "INSERT INTO t VALUES(1)"}}},
		{Statements: []Statement{{SQL: "INSERT INTO t VALUES(1)"}, {SQL: neverEnds}}}, // after a write: apply decides
		{Statements: []Statement{{SQL: "SELECT * FROM nosuch"}}},
		{Statements: []Statement{{SQL: "SELECT ?", Params: []Param{{Value: int64(1)}}}}},
	} {
		err := n.Precheck(ctx, ok)
		must(t, err == nil, "%+v: %v", ok, err)
	}
	must(t, count(t, n, "SELECT count(*) FROM t") == 0, "precheck wrote")
}

// TestNode_Apply_maxRowid: with the largest rowid taken, SQLite picks new
// rowids at random, differently on each node. Apply refuses the largest
// rowid instead, the same on every node.
func TestNode_Apply_maxRowid(t *testing.T) {
	a := memNode(t, vfs.NewMem(), Options{})
	b := memNode(t, vfs.NewMem(), Options{})
	log := [][]byte{
		command(t, "CREATE TABLE mr(id INTEGER PRIMARY KEY, v)", "CREATE TABLE h(v)", "CREATE TABLE w(k PRIMARY KEY, v) WITHOUT ROWID"),
		command(t, "INSERT INTO mr VALUES(9223372036854775807, 0)"),
		command(t, "INSERT INTO mr(v) VALUES(1)"),
		command(t, "INSERT INTO mr VALUES(5, 2)"),
		command(t, "UPDATE mr SET id=9223372036854775807 WHERE id=5"),
		command(t, "INSERT INTO h(rowid, v) VALUES(9223372036854775807, 'x'), (NULL, 'y')"),
		command(t, "INSERT INTO w VALUES(9223372036854775807, 1)"),
	}
	var ra, rb []Response
	for i, cmd := range log {
		ra = append(ra, applyOK(t, a, uint64(i+1), cmd))
		rb = append(rb, applyOK(t, b, uint64(i+1), cmd))
	}
	must(t, reflect.DeepEqual(stripTime(ra), stripTime(rb)), "different results:\n%+v\n%+v", ra, rb)
	for _, i := range []int{1, 4, 5} {
		must(t, ra[i].RolledBack && strings.Contains(ra[i].Results[len(ra[i].Results)-1].Error, ErrMaxRowid.Error()), "entry %d: %+v", i+1, ra[i])
	}
	for _, i := range []int{2, 3, 6} {
		must(t, !ra[i].RolledBack, "entry %d: %+v", i+1, ra[i])
	}
	must(t, ra[2].Results[0].LastInsertID == 1, "rowid %d", ra[2].Results[0].LastInsertID)
	sa, err := a.Checksum(context.Background())
	must(t, err == nil, "%v", err)
	sb, err := b.Checksum(context.Background())
	must(t, err == nil && sa == sb, "checksums %v %v %v", sa, sb, err)
}

// TestNode_Apply_maxRowid_legacy: a database that already holds the
// largest rowid (written before the check existed) gets the check after
// every statement: an insert that would take a random rowid is refused,
// until the row is deleted.
func TestNode_Apply_maxRowid_legacy(t *testing.T) {
	name := registerFS(t, vfs.NewMem())
	raw, err := sqlite3.Open("file:main.db?vfs=" + name)
	must(t, err == nil, "%v", err)
	err = raw.Exec("CREATE TABLE lt(v); INSERT INTO lt(rowid, v) VALUES(9223372036854775807, 'old')")
	must(t, err == nil, "%v", err)
	must(t, raw.Close() == nil, "close")
	n := openTestNode(t, Options{VFS: name, Path: "main.db"})
	r := applyOK(t, n, 1, command(t, "INSERT INTO lt(v) VALUES('new')"))
	must(t, r.RolledBack && strings.Contains(r.Results[0].Error, ErrMaxRowid.Error()), "%+v", r)
	r = applyOK(t, n, 2, command(t, "DELETE FROM lt WHERE rowid=9223372036854775807"))
	must(t, !r.RolledBack, "%+v", r)
	r = applyOK(t, n, 3, command(t, "INSERT INTO lt(v) VALUES('new')"))
	must(t, !r.RolledBack && r.Results[0].LastInsertID == 1, "%+v", r)
}
