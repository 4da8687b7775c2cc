package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holeycow/holeycow/stability"
)

// Scale sizes every figure. quickScale must finish within 60 s on two
// cores, fullScale within 10 minutes, tinyScale is for the test.
type Scale struct {
	Name string
	Only map[int]bool // figures to run (empty: all)

	// Figures 1 and 2.
	Rows         int   // rows of 100 B preloaded
	Rounds       int   // interleaved baseline/holeycow rounds
	TxPerRound   int   // steady-state commits per setup per round
	FirstTouchTx int   // commits per first-touch pass (capped by the pages)
	FirstRounds  int   // first-touch rounds
	Copiers      []int // copier counts of the steady-state writer figure
	Reads        int   // point selects per setup per round

	// Figure 3.
	Inserts     int // single-row inserts of 100 B (storage I/O)
	RaftInserts int // the same, through the replicated cluster (write amplification)

	// Figure 4.
	TPCCCheckpoints []int // transactions after which the overlay is measured
	Warehouses      int
	Items           int
	CustPerDistrict int

	// Figures 5 to 8.
	Kills     int
	JoinSizes []int64
	// JoinDefaultBytes is the load before join_bytes_100mib_default.
	JoinDefaultBytes int64
	LagSamples       int
	GCRounds         int

	// Figure 9.
	GroupRounds  int // interleaved group-commit/one-by-one rounds
	GroupInserts int // single-row inserts per mode per round

	// Figure 10 (server mode).
	ServeLoad       time.Duration // each load's length, per cluster and round
	ServeRounds     int           // interleaved SQL/no-op rounds
	ServeStable     time.Duration // the c16 load counted for failed requests (60 s in full)
	ServeKills      int           // leader kills
	ServeAmpInserts int           // inserts of write_amplification_3n (66k in full)

	// Options, not scale: -sqlite-mode for the serve processes ("": their
	// default), -serve-profiles (a directory for their CPU profiles).
	SQLiteMode, ServeProfiles string
	// BlockDev: "auto" counts serve clusters' bytes on a block device of
	// their own where that can be made (root), "off" never does.
	BlockDev string
	// Figure 11: writes per copier mode, writer kills per mode.
	RefreshWrites, RefreshKills int
	// Figure 12: inserts of 100 B before space_amplification_3n_66k (66k
	// in full), the load after them (100 MiB in full), writes a stopped
	// member misses (10k in full), interleaved steady rounds.
	SpaceInserts   int
	SpaceLoadBytes int64
	RestartWrites  int
	ModeRounds     int
	// Figure 13: keys preloaded before the writer ratios, Set+Sync per
	// engine per round, interleaved rounds; writes before and again after
	// the copier joins for pebble_overlay_fraction (100k in full).
	LSMPreload, LSMWrites, LSMRounds int
	LSMOverlayWrites                 int
}

func fullScale() Scale {
	return Scale{
		Name: "full", Rows: 20000, Rounds: 11, TxPerRound: 150, FirstTouchTx: 400, FirstRounds: 5, Reads: 4000, Copiers: []int{0, 1, 3, 7},
		Inserts: 20000, RaftInserts: 66000,
		TPCCCheckpoints: []int{1000, 10000, 50000}, Warehouses: 2, Items: 10000, CustPerDistrict: 300,
		Kills: 12, JoinSizes: []int64{10 << 20, 100 << 20, 1 << 30}, JoinDefaultBytes: 100 << 20, LagSamples: 400, GCRounds: 5,
		GroupRounds: 5, GroupInserts: 2000,
		ServeLoad: 10 * time.Second, ServeRounds: 3, ServeStable: time.Minute, ServeKills: 10, ServeAmpInserts: 66000,
		RefreshWrites: 10000, RefreshKills: 6,
		SpaceInserts: 66000, SpaceLoadBytes: 100 << 20, RestartWrites: 10000, ModeRounds: 5,
		LSMPreload: 20000, LSMWrites: 2000, LSMRounds: 5, LSMOverlayWrites: 100000,
	}
}

func quickScale() Scale {
	return Scale{
		Name: "quick", Rows: 8000, Rounds: 5, TxPerRound: 60, FirstTouchTx: 150, FirstRounds: 3, Reads: 1500, Copiers: []int{0, 1, 3},
		Inserts: 2000, RaftInserts: 2000,
		TPCCCheckpoints: []int{1000, 10000}, Warehouses: 1, Items: 5000, CustPerDistrict: 100,
		Kills: 10, JoinSizes: []int64{10 << 20, 100 << 20}, JoinDefaultBytes: 8 << 20, LagSamples: 100, GCRounds: 3,
		GroupRounds: 3, GroupInserts: 300,
		ServeLoad: 2 * time.Second, ServeRounds: 1, ServeStable: 5 * time.Second, ServeKills: 3, ServeAmpInserts: 2000,
		RefreshWrites: 2000, RefreshKills: 3,
		SpaceInserts: 5000, SpaceLoadBytes: 16 << 20, RestartWrites: 2000, ModeRounds: 5,
		LSMPreload: 5000, LSMWrites: 500, LSMRounds: 3, LSMOverlayWrites: 20000,
	}
}

// tinyScale checks that every figure produces sane values; its numbers
// mean nothing.
func tinyScale() Scale {
	return Scale{
		Name: "tiny", Rows: 600, Rounds: 3, TxPerRound: 8, FirstTouchTx: 10, FirstRounds: 1, Reads: 100, Copiers: []int{0, 1, 3},
		Inserts: 150, RaftInserts: 100,
		TPCCCheckpoints: []int{20, 60}, Warehouses: 1, Items: 200, CustPerDistrict: 10,
		Kills: 2, JoinSizes: []int64{1 << 20}, JoinDefaultBytes: 1 << 20, LagSamples: 10, GCRounds: 1,
		GroupRounds: 1, GroupInserts: 64,
		ServeLoad: 300 * time.Millisecond, ServeRounds: 1, ServeStable: 500 * time.Millisecond, ServeKills: 1, ServeAmpInserts: 100,
		RefreshWrites: 100, RefreshKills: 1,
		SpaceInserts: 200, SpaceLoadBytes: 1 << 20, RestartWrites: 100, ModeRounds: 1,
		LSMPreload: 500, LSMWrites: 40, LSMRounds: 1, LSMOverlayWrites: 3000,
	}
}

// metric describes one figure's value: its JSON key, the table's label and
// the goal, if the issue states one.
type metric struct {
	Fig   int
	Key   string
	Label string
	Goal  string
	Met   func(v float64) bool // nil: no goal
}

// metrics lists every reported value in table order. The JSON object has
// exactly these keys (plus "scale", "cores" and "notes").
var metrics = []metric{
	{1, "writer_ratio_steady_c0", "writer commits/s, steady, 0 copiers ÷ plain", "≥ 0.97", atLeast(0.97)},
	{1, "writer_ratio_steady_c1", "writer commits/s, steady, 1 copier ÷ plain", "≥ 0.97", atLeast(0.97)},
	{1, "writer_ratio_steady_c3", "writer commits/s, steady, 3 copiers ÷ plain", "≥ 0.97", atLeast(0.97)},
	{1, "writer_ratio_steady_c7", "writer commits/s, steady, 7 copiers ÷ plain", "≥ 0.97", atLeast(0.97)},
	{1, "writer_ratio_first_touch_c3", "writer commits/s, first touch, 3 copiers ÷ plain", "≥ 0.5", atLeast(0.5)},
	{2, "copier_read_ratio", "copier point selects/s ÷ plain", "≥ 0.95", atLeast(0.95)},
	{3, "bytes_ratio_3n_vs_1n", "DB bytes written, 3-node holeycow ÷ 1 plain node", "≤ 1.05", atMost(1.05)},
	{3, "fsync_ratio_3n_vs_1n", "DB fsyncs, 3-node holeycow ÷ 1 plain node", "≤ 1.05", atMost(1.05)},
	{3, "bytes_ratio_vs_shared_nothing", "DB bytes written, 3-node holeycow ÷ 3-node shared-nothing", "≈ 1/3", between(0.25, 0.40)},
	{3, "raft_log_bytes_per_write", "Raft log bytes per write, per voter", "", nil},
	{3, "write_amplification", "all bytes written by all nodes ÷ logical bytes inserted", "", nil},
	{4, "overlay_fraction_1k", "copier overlay ÷ DB size after 1k TPC-C-like txns", "", nil},
	{4, "overlay_fraction_10k", "copier overlay ÷ DB size after 10k txns", "", nil},
	{4, "overlay_fraction_50k", "copier overlay ÷ DB size after 50k txns", "", nil},
	{5, "failover_ms_p50", "failover, writer killed → writes accepted, p50 (ms)", "≤ 500", atMost(500)},
	{5, "failover_ms_p99", "failover p99 (ms)", "", nil},
	{6, "join_bytes_10mib", "bytes moved to add a node, 10 MiB DB", "≤ 64 KiB", atMost(64 << 10)},
	{6, "join_bytes_100mib", "bytes moved to add a node, 100 MiB DB", "≤ 64 KiB", atMost(64 << 10)},
	{6, "join_bytes_1gib", "bytes moved to add a node, 1 GiB DB", "≤ 64 KiB", atMost(64 << 10)},
	{6, "join_bytes_100mib_default", "bytes moved to add a node right after a 100 MiB load of 1 KiB rows, default settings", "≤ 64 KiB + tail", nil},
	{7, "lag_ms_p50", "replication lag, write acked → visible on a copier, p50 (ms)", "", nil},
	{7, "lag_ms_p99", "replication lag p99 (ms)", "", nil},
	{8, "gc_ms", "GC: copier reset and catch-up (ms)", "", nil},
	{9, "group_commit_ratio", "cluster inserts/s, 16 writers, group commit ÷ one entry per transaction", "", nil},
	{10, "raft_ceiling_ratio_seq", "serve, 3 processes: sequential inserts/s ÷ the same cluster applying no-ops", "≥ 0.8", atLeast(0.8)},
	{10, "raft_ceiling_ratio_batch", "serve: rows/s in batches of 100 ÷ no-op apply", "≥ 0.8", atLeast(0.8)},
	{10, "raft_ceiling_ratio_c16", "serve: inserts/s from 16 concurrent requests ÷ no-op apply", "≥ 0.8", atLeast(0.8)},
	{10, "bytes_per_write_seq_3n", "serve: bytes written to storage by the 3 processes per sequential insert", "≤ 40 KB", atMost(40e3)},
	{10, "bytes_per_row_batch_3n", "serve: bytes written by the 3 processes per row in batches of 100", "≤ 1.3 KB", atMost(1.3e3)},
	{10, "write_amplification_3n", "serve: bytes written by the 3 processes ÷ bytes inserted, 66k inserts of 100 B", "≤ 45", atMost(45)},
	{10, "cpu_ms_per_write_seq", "serve: CPU (user+sys) of the 3 processes per sequential insert (ms)", "", nil},
	{10, "cpu_ms_per_write_c16", "serve: CPU of the 3 processes per insert, 16 concurrent (ms)", "", nil},
	{10, "cpu_us_per_read_none", "serve: CPU of the 3 processes per point read, level=none on a follower (µs)", "", nil},
	{10, "stability_rounds_per_1k_seq", "serve: stability rounds per 1,000 sequential write requests", "", nil},
	{10, "stability_rounds_per_1k_batch", "serve: stability rounds per 1,000 batch requests (100 rows each)", "", nil},
	{10, "stability_rounds_per_1k_c16", "serve: stability rounds per 1,000 write requests, 16 concurrent", "", nil},
	{10, "failed_requests_c16_60s", "serve: failed requests in 60 s of 16 concurrent writers", "0", atMost(0)},
	{10, "serve_failover_ms_p50", "serve: leader SIGKILLed → a write accepted through a survivor, p50 (ms)", "≤ 400", atMost(400)},
	{10, "serve_failover_ms_p99", "serve: failover p99 (ms)", "", nil},
	{11, "copier_overlay_fraction_replay", "copier overlay ÷ DB size after the fig11 writes, replay mode", "", nil},
	{11, "copier_overlay_fraction_refresh", "copier overlay ÷ DB size after the fig11 writes, refresh mode", "≤ 0.05", atMost(0.05)},
	{11, "copier_cpu_ratio_replay", "CPU per write on a copier ÷ on the writer, replay mode (upper bound)", "", nil},
	{11, "copier_cpu_ratio_refresh", "CPU per write on a copier ÷ on the writer, refresh mode (upper bound)", "≤ 0.1", atMost(0.1)},
	{11, "refresh_ms_p50", "one copier refresh (refresh mode), p50 (ms)", "", nil},
	{11, "refresh_ms_p99", "one copier refresh, p99 (ms)", "", nil},
	{11, "lag_ms_replay_p50", "write acked → visible on a copier at level none, replay mode, p50 (ms)", "", nil},
	{11, "lag_ms_replay_p99", "lag p99, replay mode (ms)", "", nil},
	{11, "lag_ms_refresh_p50", "write acked → visible on a copier at level none, refresh mode, p50 (ms)", "", nil},
	{11, "lag_ms_refresh_p99", "lag p99, refresh mode (ms)", "", nil},
	{11, "weak_read_us_replay_p50", "point read at level weak on a copier after a write, replay mode, p50 (µs)", "", nil},
	{11, "weak_read_us_refresh_p50", "point read at level weak on a copier after a write, refresh mode, p50 (µs)", "", nil},
	{11, "failover_ms_replay_p50", "failover under load, replay mode, p50 (ms)", "≤ 500", atMost(500)},
	{11, "failover_ms_refresh_p50", "failover under load, refresh mode, p50 (ms)", "≤ 500", atMost(500)},
	{12, "space_amplification_3n_66k_replay", "serve, replay mode: bytes on disk of the 3 nodes (-data and -shared) ÷ logical DB, after 66k inserts of 100 B", "≤ 1.3", atMost(1.3)},
	{12, "space_amplification_3n_66k_refresh", "serve, refresh mode: bytes on disk ÷ logical DB, after 66k inserts", "≤ 1.3", atMost(1.3)},
	{12, "space_amplification_3n_100mib_replay", "serve, replay mode: bytes on disk ÷ logical DB, after a further 100 MiB of 1 KiB rows", "≤ 1.3", atMost(1.3)},
	{12, "space_amplification_3n_100mib_refresh", "serve, refresh mode: bytes on disk ÷ logical DB, after a further 100 MiB", "≤ 1.3", atMost(1.3)},
	{12, "copier_cpu_ratio_serve_replay", "serve, replay mode: CPU of a copier process ÷ of the writer process, 16 concurrent inserts", "", nil},
	{12, "copier_cpu_ratio_serve_refresh", "serve, refresh mode: CPU of a copier process ÷ of the writer process", "≤ 0.1", atMost(0.1)},
	{12, "writer_ratio_steady_c3_replay", "serve, 3 processes, replay copiers: sequential inserts/s ÷ refresh copiers that never refresh", "", nil},
	{12, "writer_ratio_steady_c3_refresh", "serve, 3 processes, copiers refreshing at the default bound: sequential inserts/s ÷ copiers that never refresh", "≥ 0.95", atLeast(0.95)},
	{12, "restart_bytes_10k_replay", "bytes moved to bring back a copier that missed 10k writes, replay mode (in process)", "", nil},
	{12, "restart_bytes_10k_refresh", "bytes moved to bring back a copier that missed 10k writes, refresh mode (in process)", "", nil},
	{13, "pebble_writer_ratio", "Pebble Set+Sync/s on a writer view with 2 copiers ÷ on plain files", "≥ 0.9", atLeast(0.9)},
	{13, "pebble_rounds_per_1k_writes", "Pebble: stability rounds per 1,000 Set+Sync on the writer view", "", nil},
	{13, "goleveldb_writer_ratio", "goleveldb Put+Sync/s on a writer view with 2 copiers ÷ on plain files", "≥ 0.9", atLeast(0.9)},
	{13, "goleveldb_rounds_per_1k_writes", "goleveldb: stability rounds per 1,000 Put+Sync on the writer view", "", nil},
	{13, "pebble_overlay_fraction", "copier overlay ÷ Pebble DB size: copier joins a DB of 100k random writes, then 100k more with compactions (quick: 20k)", "", nil},
	{13, "pebble_overlay_fraction_held", "the same with zero-copy removes and renames (cow.Options.HoldRemoved): removed tables wait in the holding area instead of the overlay", "", nil},
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func between(lo, hi float64) func(float64) bool {
	return func(v float64) bool { return v >= lo && v <= hi }
}

// Report collects the values of one run. A key missing from Values is not
// measured, and Notes says why.
//
// Concurrency: safe for concurrent use.
type Report struct {
	Scale string
	Cores int

	mu struct {
		sync.Mutex
		values  map[string]float64
		notes   map[string]string // key -> why not measured, or a remark
		details []string          // free-form lines printed under the table
	}
}

func newReport(scale string, cores int) *Report {
	r := &Report{Scale: scale, Cores: cores}
	r.mu.values = map[string]float64{}
	r.mu.notes = map[string]string{}
	return r
}

// Set records a measured value. A value that is not finite is recorded as
// not measured, with the reason.
func (r *Report) Set(key string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.mu.notes[key] = fmt.Sprintf("not measured: computed value %v", v)
		return
	}
	r.mu.values[key] = v
}

// NotMeasured records why key has no value.
func (r *Report) NotMeasured(key, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mu.values, key)
	r.mu.notes[key] = "not measured: " + why
}

// Note attaches a remark to a measured key.
func (r *Report) Note(key, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.notes[key] = note
}

// Detail adds a line printed under the table.
func (r *Report) Detail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.details = append(r.mu.details, fmt.Sprintf(format, args...))
}

// Value returns a key's value and whether it was measured.
func (r *Report) Value(key string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.mu.values[key]
	return v, ok
}

// NoteOf returns a key's note.
func (r *Report) NoteOf(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.notes[key]
}

// Check verifies the report's invariants: every value belongs to a known
// metric and is finite, and every metric has either a value or a note
// saying why it was not measured (never both).
func (r *Report) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	known := map[string]bool{}
	var errs []error
	for _, m := range metrics {
		known[m.Key] = true
		_, ok := r.mu.values[m.Key]
		notMeasured := strings.HasPrefix(r.mu.notes[m.Key], "not measured: ")
		if ok == notMeasured {
			errs = append(errs, fmt.Errorf("bench: %s: value present %v, not-measured note %q", m.Key, ok, r.mu.notes[m.Key]))
		}
	}
	for k, v := range r.mu.values {
		if !known[k] {
			errs = append(errs, fmt.Errorf("bench: unknown key %s", k))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("bench: %s = %v", k, v))
		}
	}
	return errors.Join(errs...)
}

// Details returns the detail lines.
func (r *Report) Details() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.mu.details)
}

// progress writes timestamped progress lines (to stderr).
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex // serializes writes to w
}

func (p *progress) Printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// env is what every figure gets: the scale, a scratch directory, the
// report, progress output, a seeded random source and a cleanup stack.
//
// Concurrency: not safe for concurrent use (the figures run one at a
// time); rep and p are.
type env struct {
	ctx  context.Context
	sc   Scale
	dir  string
	rep  *Report
	p    *progress
	seed uint64
	ca   *stability.CA

	// blockDevs: each serve cluster gets a file system on a loop device
	// of its own, and its bytes are counted there (see blockDev).
	blockDevs bool

	closers  []func() error
	seq      int
	serveBin string // the sqlcluster binary, once built (figure 10)
}

// defer_ pushes a cleanup, run in reverse order by close.
func (e *env) defer_(f func() error) { e.closers = append(e.closers, f) }

// close runs the cleanups pushed since mark (see mark), newest first.
func (e *env) closeTo(mark int) error {
	var errs []error
	for len(e.closers) > mark {
		f := e.closers[len(e.closers)-1]
		e.closers = e.closers[:len(e.closers)-1]
		if err := f(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *env) mark() int { return len(e.closers) }

// subdir makes a fresh directory under the run's scratch directory.
func (e *env) subdir(name string) (string, error) {
	e.seq++
	d := filepath.Join(e.dir, fmt.Sprintf("%02d-%s", e.seq, name))
	return d, os.MkdirAll(d, 0o755)
}

// rng returns a random source derived from the run's seed and a stream
// number, so that two setups given the same stream see the same values.
func (e *env) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(e.seed, stream))
}

// median returns the median of xs (NaN for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile returns the p-th percentile (0..100) of xs, nearest rank.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}

// timeIt runs f and returns how long it took.
func timeIt(f func() error) (time.Duration, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0), err
}
