package sqlnode

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// openTestNode opens a node on the OS VFS in dir, closing and checking it
// at cleanup.
func openTestNode(t testing.TB, opts Options) *Node {
	t.Helper()
	n, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Check(); err != nil {
			t.Error(err)
		}
		if err := n.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return n
}

func tempNode(t testing.TB) *Node {
	t.Helper()
	return openTestNode(t, Options{Path: filepath.Join(t.TempDir(), "db.sqlite")})
}

// command prepares a request of one statement per SQL text, without params.
func command(t testing.TB, sqls ...string) []byte {
	t.Helper()
	var req Request
	for _, s := range sqls {
		req.Statements = append(req.Statements, Statement{SQL: s})
	}
	b, err := Prepare(req, fixedEnv())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawCommand encodes without rewriting, as a command that bypassed Prepare.
func rawCommand(t testing.TB, sqls ...string) []byte {
	t.Helper()
	var req Request
	for _, s := range sqls {
		req.Statements = append(req.Statements, Statement{SQL: s})
	}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripTime zeroes the node-local Time fields.
func stripTime(rs []Response) []Response {
	out := make([]Response, len(rs))
	for i, r := range rs {
		out[i] = r
		out[i].Results = append([]Result(nil), r.Results...)
		for j := range out[i].Results {
			out[i].Results[j].Time = 0
		}
	}
	return out
}

func mustApply(t testing.TB, n *Node, idx uint64, cmd []byte) Response {
	t.Helper()
	r, err := n.Apply(idx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func queryInts(t testing.TB, n *Node, sql string) []int64 {
	t.Helper()
	rs, err := n.Query(context.Background(), []Statement{{SQL: sql}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Error != "" {
		t.Fatalf("%s: %s", sql, rs[0].Error)
	}
	var out []int64
	for _, row := range rs[0].Values {
		out = append(out, row[0].(int64))
	}
	return out
}

func TestNode_Apply_idempotentByIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	n, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.AppliedIndex(); got != 0 {
		t.Fatalf("fresh AppliedIndex = %d", got)
	}
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x)"))
	mustApply(t, n, 3, command(t, "INSERT INTO t VALUES(1)")) // gaps are other log entries
	r := mustApply(t, n, 3, command(t, "INSERT INTO t VALUES(1)"))
	if !r.Skipped {
		t.Errorf("re-applied index 3: %+v", r)
	}
	if err := n.Check(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = openTestNode(t, Options{Path: path})
	if got := n.AppliedIndex(); got != 3 {
		t.Fatalf("reopened AppliedIndex = %d, want 3", got)
	}
	// Replaying the log from the start after a reset: everything up to the
	// stored index is skipped.
	for i, c := range [][]byte{command(t, "CREATE TABLE t(x)"), nil, command(t, "INSERT INTO t VALUES(1)")} {
		if c == nil {
			continue
		}
		if r := mustApply(t, n, uint64(i+1), c); !r.Skipped || len(r.Results) != 0 {
			t.Errorf("replayed index %d: %+v", i+1, r)
		}
	}
	mustApply(t, n, 4, command(t, "INSERT INTO t VALUES(2)"))
	if got := queryInts(t, n, "SELECT x FROM t ORDER BY x"); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("rows %v, want [1 2]", got)
	}
	if _, err := n.ApplyBatch([]Entry{{5, nil}, {5, nil}}); !errors.Is(err, ErrApply) {
		t.Errorf("non-increasing batch: %v", err)
	}
}

// workload is the entry sequence that the two-node tests apply.
func workload(t testing.TB) [][]byte {
	return [][]byte{
		command(t, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)"),
		command(t, "INSERT INTO t(v) VALUES('a')", "INSERT INTO t(v) VALUES('b')"),
		// Fails at the third statement: the whole request rolls back.
		command(t, "INSERT INTO t(v) VALUES('c')", "UPDATE t SET v='z' WHERE v='a'", "INSERT INTO t(v) VALUES('b')", "INSERT INTO t(v) VALUES('d')"),
		command(t, "INSERT INTO t(v) VALUES('e') RETURNING id, v", "SELECT changes(), last_insert_rowid()"),
		// Ends the whole transaction from inside the request.
		command(t, "INSERT INTO t(v) VALUES('f')", "INSERT OR ROLLBACK INTO t(v) VALUES('a')"),
		command(t, "SELECT changes(), last_insert_rowid(), count(*) FROM t"),
		rawCommand(t, "SELECT random()"),
		rawCommand(t, "COMMIT"),
		rawCommand(t, "UPDATE _holeycow_applied SET idx=100"),
		[]byte{9, 9, 9},
		rawCommand(t, "CREATE TEMP TABLE tmp(x)"),
		command(t, "CREATE TABLE w(k TEXT PRIMARY KEY, n) WITHOUT ROWID", "INSERT INTO w VALUES('x', 1.5), ('y', X'00ff')"),
		command(t, "DELETE FROM t WHERE v='b'"),
	}
}

func TestNode_Apply_atomicRequestsSameOnTwoNodes(t *testing.T) {
	a, b := tempNode(t), tempNode(t)
	var ra, rb []Response
	for i, c := range workload(t) {
		ra = append(ra, mustApply(t, a, uint64(i+1), c))
		rb = append(rb, mustApply(t, b, uint64(i+1), c))
	}
	if !reflect.DeepEqual(stripTime(ra), stripTime(rb)) {
		t.Fatalf("responses differ:\n%+v\n%+v", ra, rb)
	}
	r3 := ra[2]
	if !r3.RolledBack || len(r3.Results) != 3 || !strings.Contains(r3.Results[2].Error, "UNIQUE") || r3.Results[0].RowsAffected != 1 {
		t.Errorf("failing request: %+v", r3)
	}
	if r := ra[3]; r.Results[0].Values[0][1] != "e" || !reflect.DeepEqual(r.Results[1].Values, [][]any{{int64(1), r.Results[0].Values[0][0]}}) {
		t.Errorf("RETURNING / changes(): %+v", r)
	}
	if r := ra[4]; !r.RolledBack || !strings.Contains(r.Results[1].Error, "UNIQUE") {
		t.Errorf("OR ROLLBACK request: %+v", r)
	}
	if r := ra[5]; !reflect.DeepEqual(r.Results[0].Values, [][]any{{int64(1), int64(0), int64(3)}}) {
		t.Errorf("changes()/last_insert_rowid() at request start: %+v", r.Results[0].Values)
	}
	for _, i := range []int{6, 7, 8, 10} {
		if r := ra[i]; !r.RolledBack || !strings.Contains(r.Results[0].Error, "not authorized") {
			t.Errorf("entry %d: %+v, want error \"not authorized\"", i+1, r)
		}
	}
	if r := ra[9]; !strings.Contains(r.Error, "malformed command") {
		t.Errorf("bad command: %+v", r)
	}
	if got := queryInts(t, a, "SELECT id FROM t ORDER BY id"); !reflect.DeepEqual(got, []int64{1, 3}) {
		t.Errorf("ids %v, want [1 3]", got)
	}
	if a.AppliedIndex() != 13 || b.AppliedIndex() != 13 {
		t.Errorf("applied %d %d, want 13", a.AppliedIndex(), b.AppliedIndex())
	}
	ca, err := a.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ca != cb || ca.Index != 13 {
		t.Errorf("checksums %v %v", ca, cb)
	}
}

func TestNode_ApplyBatch_sameAsOneByOne(t *testing.T) {
	cmds := workload(t)
	one := tempNode(t)
	var want []Response
	for i, c := range cmds {
		want = append(want, mustApply(t, one, uint64(i+1), c))
	}
	wantSum, err := one.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{2, 3, 5, len(cmds)} {
		n := tempNode(t)
		var got []Response
		for i := 0; i < len(cmds); i += size {
			var batch []Entry
			for j := i; j < i+size && j < len(cmds); j++ {
				batch = append(batch, Entry{Index: uint64(j + 1), Command: cmds[j]})
			}
			rs, err := n.ApplyBatch(batch)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rs...)
		}
		if !reflect.DeepEqual(stripTime(got), stripTime(want)) {
			t.Errorf("batch size %d: responses differ\n got %+v\nwant %+v", size, got, want)
		}
		sum, err := n.Checksum(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sum != wantSum {
			t.Errorf("batch size %d: checksum %v, want %v", size, sum, wantSum)
		}
	}
}

func TestNode_changes_sameAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sqlite")
	a := openTestNode(t, Options{Path: path})
	b := tempNode(t)
	pre := [][]byte{command(t, "CREATE TABLE t(x)"), command(t, "INSERT INTO t VALUES(1),(2),(3)")}
	for i, c := range pre {
		mustApply(t, a, uint64(i+1), c)
		mustApply(t, b, uint64(i+1), c)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openTestNode(t, Options{Path: path})
	c := command(t, "SELECT changes(), last_insert_rowid()", "UPDATE t SET x=x+1", "SELECT changes()")
	ra, rb := mustApply(t, a, 3, c), mustApply(t, b, 3, c)
	if !reflect.DeepEqual(stripTime([]Response{ra}), stripTime([]Response{rb})) {
		t.Errorf("after restart %+v, without %+v", ra, rb)
	}
}

func TestNode_WaitApplied(t *testing.T) {
	n := tempNode(t)
	done := make(chan error, 1)
	go func() { done <- n.WaitApplied(context.Background(), 2) }()
	mustApply(t, n, 1, command(t, "SELECT 1"))
	select {
	case err := <-done:
		t.Fatalf("returned before index 2: %v", err)
	default:
	}
	mustApply(t, n, 2, command(t, "SELECT 1"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitApplied did not return after index 2")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.WaitApplied(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	go func() { done <- n.WaitApplied(context.Background(), 3) }()
	n.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestNode_Query_readOnly(t *testing.T) {
	n := tempNode(t)
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x INTEGER, y)", "INSERT INTO t VALUES(1, 'a'), (2, X'01')"))
	rs, err := n.Query(context.Background(), []Statement{
		{SQL: "SELECT x, y, x*2.5 AS z FROM t WHERE x >= ? ORDER BY x", Params: []Param{{Value: 1}}},
		{SQL: "INSERT INTO t VALUES(3, 3)"},
		{SQL: "SELECT 1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Columns: []string{"x", "y", "z"}, Types: []string{"integer", "", ""},
		Values: [][]any{{int64(1), "a", 2.5}, {int64(2), []byte{1}, 5.0}}}
	rs[0].Time = 0
	if !reflect.DeepEqual(rs[0], want) {
		t.Errorf("select: %+v", rs[0])
	}
	if len(rs) != 2 || !strings.Contains(rs[1].Error, "send writes through Execute") {
		t.Errorf("write through Query: %+v", rs)
	}
	rs, err = n.Query(context.Background(), []Statement{{SQL: "PRAGMA query_only=0"}, {SQL: "INSERT INTO t VALUES(3, 3)"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rs[0].Error, "send writes through Execute") {
		t.Errorf("PRAGMA query_only=0: %+v", rs)
	}
	if got := queryInts(t, n, "SELECT count(*) FROM t"); got[0] != 2 {
		t.Errorf("count %d after refused writes", got[0])
	}
}

func TestNode_ReadOnlyDB_refusesWrites(t *testing.T) {
	t.Run("os", func(t *testing.T) { testReadOnlyDB(t, tempNode(t)) })
	t.Run("sqlitevfs", func(t *testing.T) {
		testReadOnlyDB(t, openTestNode(t, Options{VFS: registerFS(t, vfs.NewMem()), Path: "db"}))
	})
}

func testReadOnlyDB(t *testing.T, n *Node) {
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x)", "INSERT INTO t VALUES(7)"))
	db, err := n.ReadOnlyDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var x int64
	if err := db.QueryRow("SELECT x FROM t").Scan(&x); err != nil || x != 7 {
		t.Fatalf("read: %v %d", err, x)
	}
	for _, q := range []string{"INSERT INTO t VALUES(8)", "PRAGMA query_only=0", "CREATE TABLE u(y)", "ATTACH ':memory:' AS m"} {
		_, err := db.Exec(q)
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v, want ErrReadOnly", q, err)
			continue
		}
		if !strings.Contains(err.Error(), "send writes through Execute") {
			t.Errorf("%s: message %q does not point to Execute", q, err)
		}
	}
	t.Logf("message users see: %v", func() error { _, err := db.Exec("INSERT INTO t VALUES(8)"); return err }())
	rows, err := db.Query("INSERT INTO t VALUES(9) RETURNING x")
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("INSERT RETURNING through Query: %v", err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("DELETE FROM t"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write in tx: %v", err)
	}
	tx.Rollback()
	if got := queryInts(t, n, "SELECT count(*) FROM t"); got[0] != 1 {
		t.Errorf("count %d after refused writes", got[0])
	}
}

func TestOpen_rejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{},
		{Path: filepath.Join(dir, "a"), JournalMode: "MEMORY"},
		{Path: filepath.Join(dir, "a"), Synchronous: "OFF"},
		{Path: filepath.Join(dir, "a"), JournalMode: "TRUNCATE", Synchronous: "NORMAL"},
		{Path: filepath.Join(dir, "a"), JournalMode: "DELETE", Synchronous: "normal"},
		{Path: filepath.Join(dir, "a"), PageSize: 1000},
	} {
		if n, err := Open(o); err == nil {
			n.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestOpen_pageSize(t *testing.T) {
	n := openTestNode(t, Options{Path: filepath.Join(t.TempDir(), "db"), PageSize: 8192})
	if got := queryInts(t, n, "PRAGMA page_size"); got[0] != 8192 {
		t.Errorf("page size %d, want 8192", got[0])
	}
}

func TestNode_ExclusiveLocking_queryOnApplyConn(t *testing.T) {
	n := openTestNode(t, Options{Path: filepath.Join(t.TempDir(), "db"), JournalMode: "WAL", Synchronous: "NORMAL", ExclusiveLocking: true})
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x)", "INSERT INTO t VALUES(1)"))
	if _, err := n.ReadOnlyDB(); err == nil {
		t.Error("ReadOnlyDB with ExclusiveLocking succeeded")
	}
	rs, err := n.Query(context.Background(), []Statement{{SQL: "SELECT x FROM t"}, {SQL: "PRAGMA query_only=0"}, {SQL: "DELETE FROM t"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Values[0][0] != int64(1) || !strings.Contains(rs[1].Error, "send writes through Execute") {
		t.Errorf("query on the apply connection: %+v", rs)
	}
	rs, err = n.Query(context.Background(), []Statement{{SQL: "DELETE FROM t"}})
	if err != nil || !strings.Contains(rs[0].Error, "send writes through Execute") {
		t.Errorf("write through Query: %v %+v", err, rs)
	}
	// The apply connection writes again after the query.
	r := mustApply(t, n, 2, command(t, "INSERT INTO t VALUES(2)"))
	if r.RolledBack {
		t.Errorf("apply after query: %+v", r)
	}
	if got := queryInts(t, n, "SELECT count(*) FROM t"); got[0] != 2 {
		t.Errorf("count %d, want 2", got[0])
	}
}

// TestNode_ApplyBatch_randomLog applies a random log one entry at a time on
// one node and in random batches on another: same responses, same
// checksums.
func TestNode_ApplyBatch_randomLog(t *testing.T) {
	seed := testSeed(t)
	log := genLog(t, rand.New(rand.NewPCG(seed, 0)), 80)
	one, batched := tempNode(t), tempNode(t)
	var want, got []Response
	for _, b := range log {
		for _, e := range b {
			want = append(want, mustApply(t, one, e.Index, e.Command))
		}
		rs, err := batched.ApplyBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rs...)
	}
	if !reflect.DeepEqual(stripTime(got), stripTime(want)) {
		t.Fatal("responses differ between batched and one-by-one apply")
	}
	c1, err := one.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := batched.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Fatalf("checksums %v %v", c1, c2)
	}
}

func TestNode_Close_thenCalls(t *testing.T) {
	n := tempNode(t)
	mustApply(t, n, 1, command(t, "CREATE TABLE t(x)"))
	if _, err := n.Query(context.Background(), []Statement{{SQL: "SELECT 1"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.Query(context.Background(), []Statement{{SQL: "SELECT 1"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if _, err := n.Checksum(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Checksum after Close: %v", err)
	}
	if _, err := n.Apply(2, command(t, "SELECT 1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if _, err := n.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
}

func TestSyncsEveryCommit(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want bool
	}{
		{Options{}, false},
		{Options{JournalMode: "wal", Synchronous: "normal"}, false},
		{Options{JournalMode: "WAL", Synchronous: "FULL"}, true},
		{Options{JournalMode: "TRUNCATE"}, true},
		{Options{JournalMode: "TRUNCATE", Synchronous: "FULL", VFS: "x"}, true},
		{Options{JournalMode: "PERSIST", Synchronous: "EXTRA"}, true},
		{Options{JournalMode: "TRUNCATE", Synchronous: "NORMAL"}, false}, // refused
	} {
		if got := SyncsEveryCommit(tc.o); got != tc.want {
			t.Errorf("SyncsEveryCommit(%+v) = %v, want %v", tc.o, got, tc.want)
		}
	}
}
