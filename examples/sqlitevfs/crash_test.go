package sqlitevfs_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
	"github.com/ncruces/go-sqlite3"
)

var seedFlag = flag.Int64("seed", 0, "seed of the randomized tests (0: from the clock)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t testing.TB) int64 {
	return int64(vfstest.Seed(t, uint64(*seedFlag)))
}

// crashRow is a row of the crash test's table in the model.
type crashRow struct {
	txn int
	v   []byte
}

// crashPoint is a simulated power loss: the FS a machine could come back
// with, and what the database may then contain.
type crashPoint struct {
	fs       *vfs.MemFS
	at       string             // where it happened, for messages
	before   map[int64]crashRow // committed state at the crash
	inflight map[int64]crashRow // state if the transaction being committed survived; nil if none was committing
}

// TestCrash_committedSurvive runs transactions on a vfs.NewMem, takes crash
// clones at random FS operations (inside commits too), and checks that
// each clone opens, passes integrity_check, and holds exactly the
// transactions committed before the crash (plus, if the crash hit a
// COMMIT, possibly that one).
func TestCrash_committedSurvive(t *testing.T) {
	seed := testSeed(t)
	for _, cfg := range []sqlitevfs.Config{
		{}, // TRUNCATE, FULL
		{JournalMode: "DELETE", Synchronous: "EXTRA"},
		{JournalMode: "PERSIST"},
		{JournalMode: "WAL", LockingMode: "EXCLUSIVE"},
	} {
		t.Run(fmt.Sprintf("%s_%s", cfg.JournalMode, cfg.Synchronous), func(t *testing.T) {
			for i := range int64(3) {
				t.Run(fmt.Sprint("seed", i), func(t *testing.T) {
					runCrash(t, cfg, seed+i)
				})
			}
		})
	}
}

func runCrash(t *testing.T, cfg sqlitevfs.Config, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	mem := vfs.NewMem()
	model := map[int64]crashRow{}
	var (
		inflight map[int64]crashRow // set while COMMIT runs
		phase    string
		points   []crashPoint
	)
	const maxPoints = 12
	hook := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if len(points) < maxPoints && phase != "" && rng.IntN(25) == 0 {
			p := crashPoint{
				fs:     mem.CrashClone(vfs.CrashOptions{Seed: rng.Int64(), KeepUnsynced: []float64{0, 0.5, 1}[rng.IntN(3)]}),
				at:     fmt.Sprintf("%s, before %v", phase, op),
				before: maps.Clone(model),
			}
			if inflight != nil {
				p.inflight = maps.Clone(inflight)
			}
			points = append(points, p)
		}
		return nil
	})
	name := register(t, errorfs.WithErrors(mem, hook))
	conn := openConn(t, name, "main.db", cfg)
	exec(t, conn, "PRAGMA cache_size=4") // spill pages mid-transaction
	exec(t, conn, "CREATE TABLE t(id INTEGER PRIMARY KEY, txn INTEGER, v BLOB)")

	const txns = 40
	vacuumAt := rng.IntN(txns)
	nextID := int64(1)
	for k := 1; k <= txns; k++ {
		next := maps.Clone(model)
		phase = fmt.Sprintf("txn %d body", k)
		exec(t, conn, "BEGIN")
		ins, _, err := conn.Prepare("INSERT INTO t(id, txn, v) VALUES (?, ?, ?)")
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(5) {
			v := make([]byte, 10+rng.IntN(3000))
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			ins.BindInt64(1, nextID)
			ins.BindInt64(2, int64(k))
			ins.BindBlob(3, v)
			if err := ins.Exec(); err != nil {
				t.Fatal(err)
			}
			next[nextID] = crashRow{txn: k, v: v}
			nextID++
		}
		ins.Close()
		ids := slices.Sorted(maps.Keys(next))
		for range rng.IntN(3) {
			id := ids[rng.IntN(len(ids))]
			v := bytes.Repeat([]byte{byte(k)}, 100+rng.IntN(2000))
			upd, _, err := conn.Prepare("UPDATE t SET txn = ?, v = ? WHERE id = ?")
			if err != nil {
				t.Fatal(err)
			}
			upd.BindInt64(1, int64(k))
			upd.BindBlob(2, v)
			upd.BindInt64(3, id)
			if err := upd.Exec(); err != nil {
				t.Fatal(err)
			}
			upd.Close()
			next[id] = crashRow{txn: k, v: v}
		}
		for range rng.IntN(2) {
			id := ids[rng.IntN(len(ids))]
			exec(t, conn, fmt.Sprintf("DELETE FROM t WHERE id = %d", id))
			delete(next, id)
		}
		phase, inflight = fmt.Sprintf("txn %d commit", k), next
		exec(t, conn, "COMMIT")
		model, inflight = next, nil
		if k == vacuumAt {
			phase = "vacuum" // same content either way
			inflight = maps.Clone(model)
			exec(t, conn, "VACUUM")
			inflight = nil
		}
	}
	phase = ""
	// Power loss after the last commit: all of it must be there.
	points = append(points, crashPoint{fs: mem.CrashClone(vfs.CrashOptions{Seed: seed}), at: "end", before: maps.Clone(model)})
	if len(points) < 2 {
		t.Fatalf("only %d crash points", len(points))
	}
	for _, p := range points {
		checkCrash(t, cfg, p)
	}
}

// checkCrash opens the crashed FS (SQLite rolls a hot journal back) and
// compares the table with the model.
func checkCrash(t *testing.T, cfg sqlitevfs.Config, p crashPoint) {
	t.Helper()
	name := register(t, p.fs)
	conn, err := sqlitevfs.OpenConn(context.Background(), name, "main.db", cfg)
	if err != nil {
		t.Fatalf("crash at %s: open: %v", p.at, err)
	}
	defer conn.Close()
	rows, err := queryRowsErr(conn, "PRAGMA integrity_check")
	if err != nil || len(rows) != 1 || rows[0] != "ok" {
		t.Fatalf("crash at %s: integrity_check %q %v", p.at, rows, err)
	}
	got, err := readCrashTable(conn)
	if err != nil {
		// The crash came before the table was committed.
		if len(p.before) == 0 {
			return
		}
		t.Fatalf("crash at %s: %v", p.at, err)
	}
	if equalRows(got, p.before) || (p.inflight != nil && equalRows(got, p.inflight)) {
		return
	}
	t.Fatalf("crash at %s: %d rows, committed state has %d (in flight: %v)", p.at, len(got), len(p.before), p.inflight != nil)
}

func readCrashTable(conn *sqlite3.Conn) (map[int64]crashRow, error) {
	stmt, _, err := conn.Prepare("SELECT id, txn, v FROM t")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	out := map[int64]crashRow{}
	for stmt.Step() {
		out[stmt.ColumnInt64(0)] = crashRow{txn: stmt.ColumnInt(1), v: stmt.ColumnBlob(2, nil)}
	}
	return out, stmt.Err()
}

func equalRows(a, b map[int64]crashRow) bool {
	return maps.EqualFunc(a, b, func(x, y crashRow) bool { return x.txn == y.txn && bytes.Equal(x.v, y.v) })
}
