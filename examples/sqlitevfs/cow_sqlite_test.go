package sqlitevfs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/ncruces/go-sqlite3"
)

// workload generates a deterministic stream of SQL statements: inserts,
// updates and deletes in batches, a CREATE INDEX, and a VACUUM.
type workload struct {
	rng    *rand.Rand
	batch  int
	nextID int
}

func newWorkload(seed int64) *workload {
	return &workload{rng: rand.New(rand.NewPCG(uint64(seed), 2)), nextID: 1}
}

const workloadSchema = `
CREATE TABLE items(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, name TEXT NOT NULL, payload BLOB);
CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT);`

// next returns the statements of the next batch. A batch is one
// transaction, except the VACUUM batch.
func (w *workload) next(n int) []string {
	w.batch++
	switch w.batch {
	case 5:
		return []string{"CREATE INDEX items_grp ON items(grp, name)"}
	case 9:
		return []string{"VACUUM"}
	}
	out := []string{"BEGIN"}
	for range n {
		r := w.rng.IntN(100)
		switch {
		case r < 55 || w.nextID < 20:
			size := 16 + w.rng.IntN(400)
			if w.rng.IntN(20) == 0 {
				size = 3000 + w.rng.IntN(6000) // overflow pages
			}
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(w.rng.Uint32())
			}
			out = append(out, fmt.Sprintf("INSERT INTO items(id, grp, name, payload) VALUES (%d, %d, 'item-%d', x'%s')",
				w.nextID, w.rng.IntN(10), w.rng.IntN(1000), hex.EncodeToString(b)))
			w.nextID++
		case r < 75:
			out = append(out, fmt.Sprintf("UPDATE items SET name = name || '+', payload = zeroblob(%d) WHERE id = %d",
				w.rng.IntN(700), 1+w.rng.IntN(w.nextID)))
		case r < 85:
			out = append(out, fmt.Sprintf("UPDATE items SET grp = %d WHERE grp = %d AND id %% 5 = %d",
				w.rng.IntN(10), w.rng.IntN(10), w.rng.IntN(5)))
		case r < 95:
			out = append(out, fmt.Sprintf("DELETE FROM items WHERE id = %d", 1+w.rng.IntN(w.nextID)))
		default:
			out = append(out, fmt.Sprintf("INSERT INTO log(msg) VALUES ('batch %d stmt %d')", w.batch, len(out)))
		}
	}
	return append(out, "COMMIT")
}

// digest summarises a node's database: every row of every table, in order,
// and the answers of an indexed query.
func digest(conn *sqlite3.Conn) (string, error) {
	h := sha256.New()
	for _, q := range []string{
		"SELECT id, grp, name, hex(payload) FROM items ORDER BY id",
		"SELECT seq, msg FROM log ORDER BY seq",
		"SELECT grp, count(*), max(name) FROM items GROUP BY grp ORDER BY grp",
	} {
		rows, err := queryRowsErr(conn, q)
		if err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		fmt.Fprintf(h, "%s\n%d\n%s\n", q, len(rows), strings.Join(rows, "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cowNode is one node: a view, its registration and its connection.
type cowNode struct {
	name string
	view *cow.View
	conn *sqlite3.Conn
}

func (n *cowNode) open(t *testing.T) {
	t.Helper()
	conn, err := sqlitevfs.OpenConn(context.Background(), n.name, "main.db", sqlitevfs.Config{})
	if err != nil {
		t.Fatalf("%s: open: %v", n.name, err)
	}
	n.conn = conn
}

func (n *cowNode) close(t *testing.T) {
	t.Helper()
	if n.conn == nil {
		return
	}
	if err := n.conn.Close(); err != nil {
		t.Fatalf("%s: close: %v", n.name, err)
	}
	n.conn = nil
}

func (n *cowNode) apply(t *testing.T, stmts []string) {
	t.Helper()
	for _, s := range stmts {
		if err := n.conn.Exec(s); err != nil {
			t.Fatalf("%s: %.80s: %v (cause: %v)", n.name, s, err, sqlitevfs.LastIOError(n.conn))
		}
	}
}

// checkSame checks integrity on every node and that all digests agree;
// it returns the common digest.
func checkSame(t *testing.T, when string, nodes ...*cowNode) string {
	t.Helper()
	var first string
	for i, n := range nodes {
		rows, err := queryRowsErr(n.conn, "PRAGMA integrity_check")
		if err != nil || len(rows) != 1 || rows[0] != "ok" {
			t.Fatalf("%s: %s: integrity_check %q %v", when, n.name, rows, err)
		}
		d, err := digest(n.conn)
		if err != nil {
			t.Fatalf("%s: %s: %v", when, n.name, err)
		}
		if i == 0 {
			first = d
		} else if d != first {
			t.Fatalf("%s: %s differs from %s", when, n.name, nodes[0].name)
		}
	}
	return first
}

// TestCow_sqlite runs SQLite on one writer view and two copier views of
// one shared vfs.NewMem, applies the same statements to the three, and
// checks that they agree after each batch, through a copier reset and a
// copier promotion; then that shared storage, opened with plain SQLite,
// equals the promoted node.
func TestCow_sqlite(t *testing.T) {
	ctx := context.Background()
	seed := testSeed(t)
	shared := vfs.NewMem()
	// The copiers reach shared storage through a wrapper that fails any
	// write (invariant 4: copiers only read it); copier 2's is disarmed
	// when it is promoted.
	noWrites := func() *errorfs.Toggle {
		tg := errorfs.NewToggle(errorfs.When(func(op errorfs.Op) bool { return op.Kind.IsWrite() }, errorfs.Always()))
		tg.Arm()
		return tg
	}
	guard2 := noWrites()
	efs1, efs2 := errorfs.WithErrors(shared, noWrites()), errorfs.WithErrors(shared, guard2)
	c1, err := cow.NewCopier(efs1, cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := cow.NewCopier(efs2, cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cow.NewWriter(shared, cow.NewDirect(c1, c2), cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*cow.View{w, c1, c2} {
		t.Cleanup(func() {
			if err := v.Check(); err != nil {
				t.Errorf("%v view: %v", v.Role(), err)
			}
		})
	}
	writer := &cowNode{name: register(t, w), view: w}
	cop1 := &cowNode{name: register(t, c1), view: c1}
	cop2 := &cowNode{name: register(t, c2), view: c2}
	nodes := []*cowNode{writer, cop1, cop2}
	for _, n := range nodes {
		n.open(t)
		t.Cleanup(func() { n.close(t) })
		n.apply(t, []string{workloadSchema})
	}

	wl := newWorkload(seed)
	stmts := 0
	run := func(batches int, nodes ...*cowNode) {
		for range batches {
			b := wl.next(100)
			stmts += len(b)
			for _, n := range nodes {
				n.apply(t, b)
			}
			checkSame(t, fmt.Sprintf("batch %d", wl.batch), nodes...)
		}
	}
	run(8, nodes...)
	t.Logf("after %d statements: writer %+v, copier1 %+v", stmts, w.Stats(), c1.Stats())

	// Reset copier 1: it comes back with the writer's committed state.
	cop1.close(t)
	if err := c1.Reset(ctx, w); err != nil {
		t.Fatal(err)
	}
	if s := c1.Stats(); s.OverlayBlocks != 0 {
		t.Fatalf("copier overlay after reset: %+v", s)
	}
	cop1.open(t)
	checkSame(t, "after reset", writer, cop1)
	run(4, nodes...)

	// Reset copier 1 again while the writer is in the middle of a
	// transaction whose pages have spilled to shared storage: the copier
	// finds a hot journal, rolls it back in its overlay, and sees the last
	// committed state.
	committed := checkSame(t, "before the spilled transaction", nodes...)
	exec(t, writer.conn, "PRAGMA cache_size=2")
	dbBefore, err := vfs.ReadFile(shared, "main.db")
	if err != nil {
		t.Fatal(err)
	}
	b := wl.next(200)
	stmts += len(b)
	half := len(b) / 2
	writer.apply(t, b[:half])
	if n, _ := shared.Stat("main.db-journal"); n == nil || n.Size() == 0 {
		t.Fatal("no hot journal on shared storage in the middle of the transaction")
	}
	if dbMid, err := vfs.ReadFile(shared, "main.db"); err != nil || bytes.Equal(dbMid, dbBefore) {
		t.Fatalf("no page spilled to shared storage in the middle of the transaction (%v)", err)
	}
	cop1.close(t)
	if err := c1.Reset(ctx, w); err != nil {
		t.Fatal(err)
	}
	cop1.open(t)
	if d := checkSame(t, "copier reset in the middle of a transaction", cop1); d != committed {
		t.Fatal("copier reset in the middle of a transaction does not see the last committed state")
	}
	writer.apply(t, b[half:])
	exec(t, writer.conn, "PRAGMA cache_size=-2000")
	cop1.apply(t, b)
	cop2.apply(t, b)
	checkSame(t, "after the spilled transaction", nodes...)
	run(4, nodes...)

	// Promote copier 2. Fence the old writer first: its engine stops.
	before := checkSame(t, "before promotion", cop1, cop2)
	writer.close(t)
	guard2.Disarm()
	if err := c2.Promote(ctx, cow.NewDirect(c1)); err != nil {
		t.Fatal(err)
	}
	if c2.Role() != cow.RoleWriter {
		t.Fatalf("promoted view has role %v", c2.Role())
	}
	for _, f := range []string{"main.db", "main.db-journal"} {
		view, err1 := vfs.ReadFile(c2, f)
		sh, err2 := vfs.ReadFile(shared, f)
		if err1 != nil || err2 != nil || !bytes.Equal(view, sh) {
			t.Fatalf("%s after promotion: shared storage differs from the promoted view (%v, %v)", f, err1, err2)
		}
	}
	if d := checkSame(t, "after promotion", cop1, cop2); d != before {
		t.Fatal("promotion changed the views")
	}
	run(8, cop2, cop1)
	t.Logf("%d statements; promoted %+v, copier1 %+v", stmts, c2.Stats(), c1.Stats())

	// Shared storage, opened with plain SQLite on the Mem FS itself,
	// equals the promoted node.
	plainName := register(t, shared)
	plain := &cowNode{name: plainName}
	conn, err := sqlitevfs.OpenConn(ctx, plainName, "main.db", sqlitevfs.Config{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	plain.conn = conn
	t.Cleanup(func() { plain.close(t) })
	checkSame(t, "shared after promotion", cop2, plain)
	for i, efs := range []*errorfs.FS{efs1, efs2} {
		if n := efs.Injected(); n != 0 {
			t.Errorf("copier %d tried to write shared storage %d times while a copier", i+1, n)
		}
	}
}

// TestCow_invalidated checks what SQLite on an invalidated copier reports:
// an SQLITE_IOERR code, with cow.ErrInvalidated behind LastIOError.
func TestCow_invalidated(t *testing.T) {
	shared := vfs.NewMem()
	c, err := cow.NewCopier(shared, cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cow.NewWriter(shared, cow.NewDirect(c), cow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wn := &cowNode{name: register(t, w)}
	cn := &cowNode{name: register(t, c)}
	for _, n := range []*cowNode{wn, cn} {
		n.open(t)
		t.Cleanup(func() { n.close(t) })
		n.apply(t, []string{workloadSchema, "INSERT INTO log(msg) VALUES ('x')"})
	}
	cause := errors.New("lease lapsed")
	c.Invalidate(cause)
	_, err = queryRowsErr(cn.conn, "SELECT count(*) FROM log")
	if !errors.Is(err, sqlite3.IOERR) {
		t.Fatalf("query on an invalidated copier: %v, want an IOERR", err)
	}
	last := sqlitevfs.LastIOError(cn.conn)
	if !errors.Is(last, cow.ErrInvalidated) || !errors.Is(last, cause) {
		t.Fatalf("LastIOError: %v, want cow.ErrInvalidated and the cause", last)
	}
	t.Logf("statement error: %v; LastIOError: %v", err, last)

	// After a reset the copier reads the writer's state again.
	cn.close(t)
	if err := c.Reset(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	cn.open(t)
	if got := queryRows(t, cn.conn, "SELECT msg FROM log"); len(got) != 1 || got[0] != "x" {
		t.Fatalf("after reset: %q", got)
	}
}
