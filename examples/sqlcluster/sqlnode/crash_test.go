package sqlnode

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: derive from the time)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t testing.TB) uint64 {
	return vfstest.Seed(t, *seedFlag)
}

var vfsNames atomic.Int64

// registerFS registers fsys with the SQLite adapter under a fresh name,
// with a WAL index in a node-local temporary directory, unregistered at
// cleanup (after the nodes, which were opened later, close).
func registerFS(t testing.TB, fsys vfs.FS) string {
	t.Helper()
	name := fmt.Sprintf("sqlnode-test-%d", vfsNames.Add(1))
	if err := sqlitevfs.Register(name, fsys, sqlitevfs.WithSharedMemory(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sqlitevfs.Unregister(name); err != nil {
			t.Error(err)
		}
	})
	return name
}

// crashFS counts the mutating and syncing operations on a MemFS and takes a
// CrashClone just before operation number at: the state a power loss at
// that moment could leave.
type crashFS struct {
	*vfs.MemFS
	at   int64
	keep float64
	seed int64

	ops atomic.Int64
	// opMu makes each mutation (its count, the clone at the crash and
	// the operation) one step, so that a clone taken while another
	// goroutine mutates (a background checkpoint) is a state between
	// two operations: MemFS's CrashClone is atomic only against the
	// namespace.
	opMu    sync.Mutex
	mu      sync.Mutex
	clone   *vfs.MemFS
	onCrash func() // called when the clone is taken
	// record, if set, receives every operation's number and kind.
	record func(op int64, k opKind)
}

// opKind classifies an operation of crashFS for the crash sweep.
type opKind struct {
	what string // "write", "truncate", "sync", "remove", "rename", "syncdir"
	name string
	off  int64
}

var _ vfs.FS = (*crashFS)(nil)

func (c *crashFS) tick(k opKind) {
	op := c.ops.Add(1)
	if c.record != nil {
		c.record(op, k)
	}
	if op != c.at {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clone = c.MemFS.CrashClone(vfs.CrashOptions{Seed: c.seed, KeepUnsynced: c.keep})
	if c.onCrash != nil {
		c.onCrash()
	}
}

func (c *crashFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.MemFS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, fs: c, name: name}, nil
}

func (c *crashFS) Remove(name string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.tick(opKind{"remove", name, 0})
	return c.MemFS.Remove(name)
}
func (c *crashFS) Rename(a, b string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.tick(opKind{"rename", a, 0})
	return c.MemFS.Rename(a, b)
}
func (c *crashFS) SyncDir(d string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.tick(opKind{"syncdir", d, 0})
	return c.MemFS.SyncDir(d)
}

type crashFile struct {
	vfs.File
	fs   *crashFS
	name string
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.opMu.Lock()
	defer f.fs.opMu.Unlock()
	f.fs.tick(opKind{"write", f.name, off})
	return f.File.WriteAt(p, off)
}
func (f *crashFile) Truncate(n int64) error {
	f.fs.opMu.Lock()
	defer f.fs.opMu.Unlock()
	f.fs.tick(opKind{"truncate", f.name, n})
	return f.File.Truncate(n)
}
func (f *crashFile) Sync() error {
	f.fs.opMu.Lock()
	defer f.fs.opMu.Unlock()
	f.fs.tick(opKind{"sync", f.name, 0})
	return f.File.Sync()
}

// genLog returns a random log: entries with increasing indexes (gaps stand
// for other kinds of log entries) cut into batches.
func genLog(t testing.TB, rng *rand.Rand, n int) [][]Entry {
	env := Env{Now: time.Unix(1700000000, 0), Rand: rngReader{rng}}
	prep := func(req Request) []byte {
		b, err := Prepare(req, env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cmds := [][]byte{prep(Request{Statements: []Statement{
		{SQL: "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER, b BLOB)"},
		{SQL: "CREATE TABLE u(k TEXT PRIMARY KEY, n REAL) WITHOUT ROWID"},
		{SQL: "CREATE INDEX t_n ON t(n)"},
	}})}
	for len(cmds) < n {
		var req Request
		switch rng.IntN(6) {
		case 0, 1:
			for range 1 + rng.IntN(20) {
				req.Statements = append(req.Statements, Statement{
					SQL:    "INSERT INTO t(v, n, b) VALUES(?, ?, randomblob(64))",
					Params: []Param{{Value: fmt.Sprintf("v%d", rng.IntN(1000))}, {Value: rng.Int64N(100)}}})
			}
		case 2:
			req.Statements = []Statement{{SQL: "UPDATE t SET n = n + ?, v = datetime('now') WHERE n % 7 = ?",
				Params: []Param{{Value: rng.Int64N(10)}, {Value: rng.Int64N(7)}}}}
		case 3:
			req.Statements = []Statement{{SQL: "DELETE FROM t WHERE n % 5 = ?", Params: []Param{{Value: rng.Int64N(5)}}}}
		case 4:
			k := fmt.Sprintf("k%d", rng.IntN(30))
			req.Statements = []Statement{
				{SQL: "INSERT INTO u VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET n = n + excluded.n", Params: []Param{{Value: k}, {Value: rng.Float64()}}},
				{SQL: "INSERT INTO t(id, v) VALUES(1, 'dup')"}, // fails once id 1 exists: rolls the request back
			}
		case 5:
			req.Statements = []Statement{{SQL: "INSERT INTO u SELECT 'bulk' || value, value FROM generate_series(1, 50) WHERE true ON CONFLICT DO NOTHING"},
				{SQL: "DELETE FROM u WHERE k LIKE 'bulk%' AND random() % 2 = 0"}}
		}
		cmds = append(cmds, prep(req))
	}
	var log [][]Entry
	idx := uint64(0)
	for i := 0; i < len(cmds); {
		size := 1 + rng.IntN(8)
		var batch []Entry
		for ; size > 0 && i < len(cmds); size-- {
			idx += 1 + uint64(rng.IntN(3))
			batch = append(batch, Entry{Index: idx, Command: cmds[i]})
			i++
		}
		log = append(log, batch)
	}
	return log
}

type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// applyLog applies the log's batches and returns the checksum after each,
// by applied index (0: the empty database).
func applyLog(t testing.TB, n *Node, log [][]Entry) map[uint64]Checksum {
	t.Helper()
	ctx := context.Background()
	sums := map[uint64]Checksum{}
	sum, err := n.Checksum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums[sum.Index] = sum
	for _, b := range log {
		if _, err := n.ApplyBatch(b); err != nil {
			t.Fatal(err)
		}
		sum, err := n.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums[sum.Index] = sum
	}
	return sums
}

type durability struct {
	name    string
	opts    Options
	durable bool // every commit survives a crash
}

var durabilities = []durability{
	{"default_WAL_NORMAL", Options{}, false},
	{"TRUNCATE_FULL", Options{JournalMode: "TRUNCATE", Synchronous: "FULL"}, true},
	{"DELETE_FULL", Options{JournalMode: "DELETE", Synchronous: "FULL"}, false},
	{"WAL_NORMAL_EXCLUSIVE", Options{JournalMode: "WAL", Synchronous: "NORMAL", ExclusiveLocking: true}, false},
}

// TestNode_crashRecovery crashes a node at a random file operation, with a
// random subset of the unsynced writes kept, reopens the crashed storage,
// and checks: the database is intact, its content is exactly the state
// after its stored applied index, and replaying the log from that index
// gives the checksum of a node that never crashed.
func TestNode_crashRecovery(t *testing.T) {
	seed := testSeed(t)
	ctx := context.Background()
	for _, d := range durabilities {
		t.Run(d.name, func(t *testing.T) {
			for i := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, i))
				log := genLog(t, rng, 40)

				// A run that never crashes: the reference checksums, and
				// the number of file operations.
				refFS := &crashFS{MemFS: vfs.NewMem(), at: -1}
				opts := d.opts
				opts.VFS, opts.Path = registerFS(t, refFS), "db"
				ref := openTestNode(t, opts)
				sums := applyLog(t, ref, log)
				final, err := ref.Checksum(ctx)
				if err != nil {
					t.Fatal(err)
				}

				// The same run, crashing at operation `at`.
				cfs := &crashFS{MemFS: vfs.NewMem(), at: 1 + rng.Int64N(refFS.ops.Load()), keep: rng.Float64(), seed: rng.Int64()}
				opts.VFS = registerFS(t, cfs)
				n := openTestNode(t, opts)
				var committed uint64
				cfs.onCrash = func() { committed = n.AppliedIndex() }
				applyLog(t, n, log)
				if cfs.clone == nil {
					t.Fatalf("no crash at op %d of %d", cfs.at, cfs.ops.Load())
				}

				opts.VFS = registerFS(t, cfs.clone)
				rec := openTestNode(t, opts)
				got := rec.AppliedIndex()
				t.Logf("run %d: crash at op %d/%d keep %.2f: committed %d, recovered %d, final %d",
					i, cfs.at, refFS.ops.Load(), cfs.keep, committed, got, final.Index)
				rs, err := rec.Query(ctx, []Statement{{SQL: "PRAGMA integrity_check"}})
				if err != nil || rs[0].Error != "" || rs[0].Values[0][0] != "ok" {
					t.Fatalf("integrity after crash: %v %+v", err, rs)
				}
				if d.durable && got < committed {
					t.Errorf("recovered index %d < %d committed before the crash", got, committed)
				}
				sum, err := rec.Checksum(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := sums[got]; !ok || sum != want {
					t.Fatalf("state at recovered index %d: %v, want %v (%v)", got, sum, want, ok)
				}
				applyLog(t, rec, log) // replay: entries <= got are skipped
				sum, err = rec.Checksum(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if sum != final {
					t.Fatalf("after replay %v, want %v", sum, final)
				}
			}
		})
	}
}

// TestNode_Flush_durable checks that after Flush a crash that keeps no
// unsynced write still recovers the flushed index.
func TestNode_Flush_durable(t *testing.T) {
	for _, d := range durabilities {
		t.Run(d.name, func(t *testing.T) {
			mem := vfs.NewMem()
			opts := d.opts
			opts.VFS, opts.Path = registerFS(t, mem), "db"
			n := openTestNode(t, opts)
			rng := rand.New(rand.NewPCG(1, 2))
			applyLog(t, n, genLog(t, rng, 10))
			idx, err := n.Flush()
			if err != nil {
				t.Fatal(err)
			}
			opts.VFS = registerFS(t, mem.CrashClone(vfs.CrashOptions{Seed: 1, KeepUnsynced: 0}))
			rec := openTestNode(t, opts)
			if got := rec.AppliedIndex(); got != idx {
				t.Errorf("recovered %d, flushed %d", got, idx)
			}
		})
	}
}
