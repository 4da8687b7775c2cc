package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

type demoOptions struct {
	Workload time.Duration // total workload time
	Accounts int
	Clients  int
	// FillerRows of 2 KB each make the database bigger than its log.
	FillerRows int
	Dir        string // "" = temporary
	// MemRaft keeps Raft logs in memory (tests: no fsync latency).
	MemRaft bool
	// Timeouts (zero: raftcluster.LANTimeouts).
	Timeouts raftcluster.Timeouts
	// JournalMode and Synchronous of the shared database (empty: the
	// cluster's default; see cluster.Config).
	JournalMode, Synchronous string
}

// result is the demo's last line.
type result struct {
	Nodes              int              `json:"nodes"`
	AckedWrites        int64            `json:"acked_writes"`
	UnknownWrites      int64            `json:"unknown_writes"`
	LostWrites         int              `json:"lost_writes"`
	DivergedNodes      []string         `json:"diverged_nodes"`
	Integrity          string           `json:"integrity"`
	BankTotal          int64            `json:"bank_total"`
	BankTotalWant      int64            `json:"bank_total_want"`
	ChecksumIndex      uint64           `json:"checksum_index"`
	FailoverMS         int64            `json:"failover_ms"`
	ResetOverlayBefore int64            `json:"reset_overlay_before"`
	ResetOverlayAfter  int64            `json:"reset_overlay_after"`
	JoinBytes          int64            `json:"join_bytes"`
	DBBytes            int64            `json:"db_bytes"`
	SharedBytes        int64            `json:"shared_bytes"`
	OverlayBytes       map[string]int64 `json:"overlay_bytes"`
	SharedNothingBytes int64            `json:"shared_nothing_bytes"`
	// DiskBytes is what every file of the cluster occupies on disk
	// (allocated blocks): shared storage, each member's Raft log store
	// and snapshots, overlays spilled to scratch. SpaceAmplification is
	// DiskBytes ÷ DBBytes (a shared-nothing cluster: about the number of
	// nodes, plus its logs).
	DiskBytes          int64    `json:"disk_bytes"`
	SpaceAmplification float64  `json:"space_amplification"`
	Storage            string   `json:"storage"`
	ElapsedMS          int64    `json:"elapsed_ms"`
	Errors             []string `json:"errors,omitempty"`
}

// OK reports whether every check passed.
func (r *result) OK() bool {
	return r.LostWrites == 0 && len(r.DivergedNodes) == 0 && r.Integrity == "ok" &&
		r.BankTotal == r.BankTotalWant && len(r.Errors) == 0 && r.AckedWrites > 0
}

func (r *result) fail(format string, a ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
}

type workload struct {
	c        *localcluster.Cluster
	accounts int
	nextID   atomic.Int64
	acked    atomic.Int64
	unknown  atomic.Int64
	lastAck  atomic.Int64 // unix nanos of the last acknowledged write

	mu       sync.Mutex
	ackedIDs []int64 // acknowledged inserts
}

func st(sql string, params ...any) sqlnode.Statement {
	s := sqlnode.Statement{SQL: sql}
	for _, p := range params {
		s.Params = append(s.Params, sqlnode.Param{Value: p})
	}
	return s
}

func (w *workload) exec(ctx context.Context, stmts ...sqlnode.Statement) (sqlnode.Response, error) {
	octx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := w.c.Execute(octx, sqlnode.Request{Statements: stmts})
	if err != nil {
		w.unknown.Add(1)
		return r, err
	}
	w.acked.Add(1)
	w.lastAck.Store(time.Now().UnixNano())
	return r, nil
}

// client runs transfers and inserts until stop.
func (w *workload) client(ctx context.Context, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if rng.IntN(2) == 0 {
			from, to := rng.IntN(w.accounts)+1, rng.IntN(w.accounts)+1
			amt := rng.IntN(200) + 1
			// Fails (CHECK) and rolls back whole when the balance is short.
			w.exec(ctx, st("UPDATE bank SET bal = bal - ? WHERE id = ?", amt, from),
				st("UPDATE bank SET bal = bal + ? WHERE id = ?", amt, to))
			continue
		}
		id := w.nextID.Add(1)
		if r, err := w.exec(ctx, st("INSERT INTO events(id, at, note) VALUES(?, datetime('now'), ?)", id, fmt.Sprintf("event %d", id))); err == nil && len(r.Results) == 1 && r.Results[0].Error == "" {
			w.mu.Lock()
			w.ackedIDs = append(w.ackedIDs, id)
			w.mu.Unlock()
		}
	}
}

func run(ctx context.Context, out io.Writer, o demoOptions) (*result, error) {
	start := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	res := &result{OverlayBytes: map[string]int64{}, Storage: localcluster.DefaultStorage.String(), DivergedNodes: []string{}}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "holeycow-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say("starting 3 nodes on 127.0.0.1 (Raft over mutual TLS), shared storage in %s", filepath.Join(dir, "shared"))
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: 3, Dir: dir, TrailingLogs: 256, MemRaft: o.MemRaft, Timeouts: o.Timeouts,
		JournalMode: o.JournalMode, Synchronous: o.Synchronous})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	say("cluster up: %s", names(c.Nodes()))

	w := &workload{c: c, accounts: o.Accounts}
	// Setup requests are idempotent, so one whose outcome is unknown (a
	// leadership change while it was in flight) is simply sent again.
	setup := func(what string, stmts ...sqlnode.Statement) error {
		var err error
		for range 5 {
			if _, err = w.exec(ctx, stmts...); !errors.Is(err, raftcluster.ErrOutcomeUnknown) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if err := setup("schema", st("CREATE TABLE IF NOT EXISTS bank(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL CHECK (bal >= 0))"),
		st("CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, at TEXT, note TEXT)"),
		st("INSERT OR IGNORE INTO bank(id, bal) SELECT value, 1000 FROM generate_series(1, ?)", o.Accounts)); err != nil {
		return nil, err
	}
	// Bulk data made by SQL, not shipped in the log: one small entry.
	if err := setup("filler", st("CREATE TABLE IF NOT EXISTS filler(id INTEGER PRIMARY KEY, pad BLOB)"),
		st("INSERT OR REPLACE INTO filler SELECT value, zeroblob(2000) FROM generate_series(1, ?)", o.FillerRows)); err != nil {
		return nil, err
	}
	res.BankTotalWant = int64(o.Accounts) * 1000
	w.acked.Store(0) // count the workload's writes only
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range o.Clients {
		wg.Add(1)
		go func() { defer wg.Done(); w.client(ctx, uint64(i)+1, stop) }()
	}
	say("workload: %d clients, bank transfers and inserts", o.Clients)

	// 1. Kill the writer midway.
	sleepCtx(ctx, o.Workload/3)
	old, err := c.Writer(ctx)
	if err != nil {
		return res, err
	}
	say("killing the writer %s after %d acknowledged writes", old.ID(), w.acked.Load())
	killed := time.Now()
	if err := c.Kill(old.ID()); err != nil {
		return res, err
	}
	nw, err := c.Writer(ctx)
	if err != nil {
		return res, err
	}
	for w.lastAck.Load() < killed.UnixNano() && ctx.Err() == nil {
		sleepCtx(ctx, time.Millisecond)
	}
	res.FailoverMS = time.Since(killed).Milliseconds()
	say("failover: %s is the writer; writes acknowledged again after %d ms", nw.ID(), res.FailoverMS)
	if err := c.Remove(ctx, old.ID()); err != nil {
		res.fail("remove %s: %v", old.ID(), err)
	} else {
		say("removed the dead member %s", old.ID())
	}

	// 2. Garbage-collect one copier under load.
	sleepCtx(ctx, o.Workload/3)
	var cp *cluster.Node
	for _, n := range c.Nodes() {
		if n != nw {
			cp = n
			break
		}
	}
	st0 := cp.Stats()
	res.ResetOverlayBefore = st0.OverlayBytes
	say("copier %s: overlay %s; requesting garbage collection (reset + catch-up)", cp.ID(), human(res.ResetOverlayBefore))
	if err := cp.RequestReset(); err != nil {
		return res, err
	}
	// Resets counts every reset of the node (one may have followed the
	// failover): wait for one more.
	for cp.Stats().Resets <= st0.Resets && ctx.Err() == nil {
		sleepCtx(ctx, 2*time.Millisecond)
	}
	res.ResetOverlayAfter = cp.Stats().OverlayBytes
	say("copier %s reset: overlay %s, caught up to index %d", cp.ID(), human(res.ResetOverlayAfter), cp.Stats().DBIndex)
	sleepCtx(ctx, o.Workload/3)
	close(stop)
	wg.Wait()
	say("workload stopped: %d writes acknowledged, %d with unknown outcome", w.acked.Load(), w.unknown.Load())

	// 3. Add a fourth node: it copies no database.
	// The database is its file and, in WAL mode, its WAL, which holds
	// every page written since the last checkpoint.
	for _, name := range []string{"main.db", "main.db-wal"} {
		if fi, err := os.Stat(filepath.Join(c.SharedDir(), name)); err == nil {
			res.DBBytes += fi.Size()
		}
	}
	// No manual compaction: with default settings every member compacts
	// its log on its own up to what the shared database holds durably,
	// so the new member gets the cluster state and the short tail.
	b0 := c.TransportBytes()
	t0 := time.Now()
	n4, err := c.AddNode(ctx)
	if err != nil {
		return res, fmt.Errorf("add node: %w", err)
	}
	res.JoinBytes = c.TransportBytes() - b0
	say("%s joined in %d ms; bytes moved between members meanwhile: %s (database: %s)", n4.ID(), time.Since(t0).Milliseconds(), human(res.JoinBytes), human(res.DBBytes))

	// 4. Verify.
	rep, verr := c.Verify(ctx)
	if verr != nil {
		res.fail("verify: %v", verr)
	}
	res.Integrity, res.DivergedNodes, res.ChecksumIndex = rep.Integrity, append(res.DivergedNodes, rep.Diverged...), rep.Index
	res.AckedWrites, res.UnknownWrites = w.acked.Load(), w.unknown.Load()
	w.mu.Lock()
	ids := append([]int64(nil), w.ackedIDs...)
	w.mu.Unlock()
	for _, n := range c.Nodes() {
		lost, err := missing(ctx, n, ids)
		if err != nil {
			res.fail("%s: %v", n.ID(), err)
		}
		res.LostWrites = max(res.LostWrites, lost)
	}
	if res.BankTotal, err = bankTotal(ctx, c); err != nil {
		res.fail("bank total: %v", err)
	}
	nodes := c.Nodes()
	res.Nodes = len(nodes)
	if res.SharedBytes, err = c.SharedBytes(); err != nil {
		res.fail("shared bytes: %v", err)
	}
	res.SharedNothingBytes = int64(len(nodes)) * res.DBBytes
	if res.DiskBytes, err = allocatedBytes(dir); err != nil {
		res.fail("disk bytes: %v", err)
	} else if res.DBBytes > 0 {
		res.SpaceAmplification = float64(res.DiskBytes) / float64(res.DBBytes)
	}

	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\trole\tapplied\tdb index\toverlay\tresets\tchecksum @"+fmt.Sprint(rep.Index)+"\t")
	for _, n := range nodes {
		s := n.Stats()
		role := "copier"
		if s.Writer {
			role = "writer"
		}
		res.OverlayBytes[n.ID()] = s.OverlayBytes
		sum := "?"
		if cs, ok := rep.Checksums[n.ID()]; ok {
			sum = cs.String()[strings.IndexByte(cs.String(), ':')+1:][:16]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\t\n", n.ID(), role, s.AppliedIndex, s.DBIndex, human(s.OverlayBytes), s.Resets, sum)
	}
	tw.Flush()
	fmt.Fprintln(out)
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "acknowledged writes\t%d (%d unknown outcome)\t\n", res.AckedWrites, res.UnknownWrites)
	fmt.Fprintf(tw, "acknowledged inserts lost\t%d\t%s\n", res.LostWrites, check(res.LostWrites == 0))
	fmt.Fprintf(tw, "bank total\t%d (want %d)\t%s\n", res.BankTotal, res.BankTotalWant, check(res.BankTotal == res.BankTotalWant))
	fmt.Fprintf(tw, "integrity_check\t%s\t%s\n", res.Integrity, check(res.Integrity == "ok"))
	fmt.Fprintf(tw, "diverged nodes\t%v\t%s\n", res.DivergedNodes, check(len(res.DivergedNodes) == 0))
	fmt.Fprintf(tw, "failover\t%d ms\t\n", res.FailoverMS)
	fmt.Fprintf(tw, "join traffic\t%s (database %s)\t\n", human(res.JoinBytes), human(res.DBBytes))
	fmt.Fprintf(tw, "shared storage\t%s; shared-nothing would hold %s\t\n", human(res.SharedBytes), human(res.SharedNothingBytes))
	fmt.Fprintf(tw, "on disk, all nodes\t%s (%.2f× the database)\t\n", human(res.DiskBytes), res.SpaceAmplification)
	tw.Flush()
	for _, e := range res.Errors {
		fmt.Fprintln(out, "error:", e)
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	sort.Strings(res.DivergedNodes)
	return res, nil
}

func names(ns []*cluster.Node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.ID())
	}
	return strings.Join(s, ", ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func human(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func bankTotal(ctx context.Context, c *localcluster.Cluster) (int64, error) {
	var total int64 = -1
	for _, n := range c.Nodes() {
		rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT coalesce(sum(bal), 0) FROM bank"}})
		if err != nil {
			return 0, err
		}
		if rs[0].Error != "" {
			return 0, errors.New(rs[0].Error)
		}
		v := rs[0].Values[0][0].(int64)
		if total >= 0 && v != total {
			return v, fmt.Errorf("%s: bank total %d, others %d", n.ID(), v, total)
		}
		total = v
	}
	return total, nil
}

// missing counts the acknowledged insert IDs absent from n.
func missing(ctx context.Context, n *cluster.Node, ids []int64) (int, error) {
	rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT id FROM events"}})
	if err != nil {
		return 0, err
	}
	if rs[0].Error != "" {
		return 0, errors.New(rs[0].Error)
	}
	have := make(map[int64]bool, len(rs[0].Values))
	for _, row := range rs[0].Values {
		have[row[0].(int64)] = true
	}
	lost := 0
	for _, id := range ids {
		if !have[id] {
			lost++
		}
	}
	return lost, nil
}

// allocatedBytes sums the blocks allocated to every regular file under
// dir (what du counts), so that preallocated and sparse files count as
// what they take.
func allocatedBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile (a dropped overlay)
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}
