package sqlnode

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

var crashSweepFlag = flag.Bool("crash-sweep", false, "TestNode_crashSweep: crash at every file operation (default: every WAL restart, sync and namespace operation, every 4th checkpoint write and every 8th WAL append)")

// sweepClass names what a file operation of a WAL-mode node is part of.
func sweepClass(k opKind, walWritten bool) string {
	switch {
	case k.what == "sync":
		return "sync"
	case k.what == "write" && strings.HasSuffix(k.name, "-wal") && k.off == 0 && walWritten:
		return "wal-restart" // a new WAL header over an old WAL
	case k.what == "write" && strings.HasSuffix(k.name, "-wal"):
		return "apply" // frames appended by a commit
	case k.what == "write" || k.what == "truncate":
		return "checkpoint" // the database file is written only by checkpoints
	}
	return k.what
}

// sweepStep is one step of the sweep's workload: a batch to apply, then
// maybe a Flush (the cluster's durable marker).
type sweepStep struct {
	batch []Entry
	flush bool
}

// sweepSteps returns n random batches (genLog), every fourth followed by
// a Flush.
func sweepSteps(t *testing.T, rng *rand.Rand, n int) []sweepStep {
	var steps []sweepStep
	for i, b := range genLog(t, rng, n) {
		steps = append(steps, sweepStep{batch: b, flush: i%4 == 3})
	}
	return steps
}

// runSweep applies steps on n and returns the index each Flush returned,
// in order; lastFlushed is updated after every Flush.
func runSweep(t *testing.T, n *Node, steps []sweepStep, lastFlushed *uint64) {
	t.Helper()
	for _, s := range steps {
		if _, err := n.ApplyBatch(s.batch); err != nil {
			t.Fatal(err)
		}
		stepCheckpoint(n)
		if s.flush {
			idx, err := n.Flush()
			if err != nil {
				t.Fatal(err)
			}
			*lastFlushed = idx
		}
	}
}

// stepCheckpoint runs, on a node with manualCheckpoint, the background
// checkpoint that its last commit asked for, where the goroutine would
// (after the apply, outside the apply lock): the sweep's file operations
// then come in the same order in every run.
func stepCheckpoint(n *Node) {
	if n.ckpt != nil && n.ckpt.manual {
		n.checkpointDue()
	}
}

// TestNode_crashSweep crashes the writer of the default mode (WAL with
// synchronous=NORMAL), on the crash-cloning MemFS, at every write and
// sync of its applies, checkpoints and WAL restarts (a small
// wal_autocheckpoint makes many of both), once keeping only synced
// changes and once keeping a random part of the unsynced ones; with the
// checkpoints on their own connection (background, run at fixed points
// here: see TestNode_crashSweep_backgroundCheckpoint for the goroutine)
// and in the apply (CheckpointInApply). After
// each crash the next writer opens the crashed storage: the database is
// intact; its content is exactly the state after its stored applied
// index, which is at least the last index Flush returned before the crash
// (so a log compacted up to Flush's index loses nothing); and replaying
// the log from there gives the state of a writer that never crashed.
func TestNode_crashSweep(t *testing.T) {
	for _, o := range []struct {
		name string
		opts Options
	}{
		{"background", Options{Path: "db", WALAutoCheckpoint: 16, manualCheckpoint: true}},
		{"in_apply", Options{Path: "db", WALAutoCheckpoint: 16, CheckpointInApply: true}},
	} {
		t.Run(o.name, func(t *testing.T) { crashSweep(t, o.opts) })
	}
}

func crashSweep(t *testing.T, opts Options) {
	seed := testSeed(t)
	steps := sweepSteps(t, rand.New(rand.NewPCG(seed, 99)), 60)

	// The reference run: checksums by index, and every operation's class.
	refFS := &crashFS{MemFS: vfs.NewMem(), at: -1}
	var classes []string
	walWritten := false
	refFS.record = func(op int64, k opKind) {
		classes = append(classes, sweepClass(k, walWritten))
		if k.what == "write" && strings.HasSuffix(k.name, "-wal") {
			walWritten = true
		}
	}
	ro := opts
	ro.VFS = registerFS(t, refFS)
	ref := openTestNode(t, ro)
	refOps := refFS.ops.Load() // the checksums only read
	sums, final := sweepReference(t, ref, steps)
	refFS.record = nil
	total := refFS.ops.Load()
	count := map[string]int{}
	for _, c := range classes {
		count[c]++
	}
	t.Logf("seed %d: %d file operations (open %d): %v", seed, total, refOps, count)
	for _, c := range []string{"apply", "checkpoint", "wal-restart", "sync"} {
		require.NotZero(t, count[c], "the workload must have %s operations", c)
	}

	type mode struct {
		name string
		keep float64
	}
	// Without -crash-sweep, each mode crashes at every n-th operation of
	// a class (every one of a class not listed), the two modes at
	// different ones where n > 1.
	every := map[string]int{"apply": 24, "checkpoint": 8, "sync": 4, "wal-restart": 2}
	for mi, m := range []mode{{"synced_only", 0}, {"part_unsynced", 0.5}} {
		t.Run(m.name, func(t *testing.T) {
			crashed, seen := map[string]int{}, map[string]int{}
			for at := int64(1); at <= total; at++ {
				c := classes[at-1]
				seen[c]++
				if k := max(every[c], 1); !*crashSweepFlag && seen[c]%k != mi%k {
					continue
				}
				crashed[c]++
				cfs := &crashFS{MemFS: vfs.NewMem(), at: at, keep: m.keep, seed: int64(seed) + at}
				o := opts
				o.VFS = registerFS(t, cfs)
				n, err := Open(o)
				require.NoError(t, err)
				var flushed, flushedAtCrash uint64
				cfs.onCrash = func() { flushedAtCrash = flushed }
				runSweep(t, n, steps, &flushed)
				require.NoError(t, n.Close())
				require.NotNil(t, cfs.clone, "no crash at op %d of %d", at, cfs.ops.Load())

				checkRecovery(t, o, cfs.clone, flushedAtCrash, sums, final, steps, fmt.Sprintf("crash at op %d (%s)", at, c))
			}
			t.Logf("crashes by class: %v", crashed)
		})
	}
}

// TestNode_crashSweep_promotedCopier: the writer of the default mode dies
// (its process: every write it made stays on shared storage, none after)
// at a write or sync of its applies, checkpoints and WAL restarts, and a
// copier that applied the same entries is promoted instead (its overlay
// goes to shared storage, its database stays open). The promoted node's
// database is intact and at its own applied index, replaying the log
// gives the final state, and shared storage opened afresh afterwards
// holds that state too.
func TestNode_crashSweep_promotedCopier(t *testing.T) {
	seed := testSeed(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 98))
	log := genLog(t, rng, 40)
	opts := Options{Path: "db", WALAutoCheckpoint: 16}

	// The reference: a plain node; and how many write-path operations a
	// writer view makes (the crash points).
	ro := opts
	ro.VFS = registerFS(t, vfs.NewMem())
	ref := openTestNode(t, ro)
	for _, b := range log {
		_, err := ref.ApplyBatch(b)
		require.NoError(t, err)
	}
	final, err := ref.Checksum(ctx)
	require.NoError(t, err)

	// run applies log on a writer and a copier of one shared MemFS until
	// the writer's write path fails from operation stopAt on (0: never),
	// promotes the copier, finishes the log on it, and checks. It returns
	// the writer's write-path operations.
	run := func(stopAt int64) int64 {
		shared := vfs.NewMem()
		cv, err := cow.NewCopier(shared, cow.Options{})
		require.NoError(t, err)
		wv, err := cow.NewWriter(shared, cow.NewDirect(cv), cow.Options{})
		require.NoError(t, err)
		// Write-path operations count (and fail) from the first apply on.
		var writes atomic.Int64
		var armed atomic.Bool
		dead := errorfs.When(func(op errorfs.Op) bool {
			if !op.Kind.IsWrite() || !armed.Load() {
				return false
			}
			return writes.Add(1) >= stopAt && stopAt > 0
		}, errorfs.Always())
		wo, co := opts, opts
		wo.VFS, co.VFS = registerFS(t, errorfs.WithErrors(wv, dead)), registerFS(t, cv)
		w, err := Open(wo)
		require.NoError(t, err)
		c, err := Open(co)
		require.NoError(t, err)
		armed.Store(true)
		i := 0
		for ; i < len(log); i++ {
			if _, err := w.ApplyBatch(log[i]); err != nil {
				require.ErrorIs(t, err, ErrApply)
				break
			}
			_, err := c.ApplyBatch(log[i])
			require.NoError(t, err)
		}
		w.Close() // the dead writer's close fails to write: ignored
		require.NoError(t, cv.Promote(ctx, cow.NewDirect()), "stop at %d", stopAt)
		rs, err := c.Query(ctx, []Statement{{SQL: "PRAGMA integrity_check"}})
		require.NoError(t, err)
		require.Equal(t, "ok", rs[0].Values[0][0], "stop at %d: promoted copier's integrity", stopAt)
		for _, b := range log { // replay: entries <= the applied index are skipped
			_, err := c.ApplyBatch(b)
			require.NoError(t, err, "stop at %d", stopAt)
		}
		sum, err := c.Checksum(ctx)
		require.NoError(t, err)
		require.Equal(t, final, sum, "stop at %d: promoted copier after replay", stopAt)
		require.NoError(t, c.Close())
		// Shared storage as the promoted writer left it.
		so := opts
		so.VFS = registerFS(t, shared)
		s, err := Open(so)
		require.NoError(t, err)
		sum, err = s.Checksum(ctx)
		require.NoError(t, err)
		require.Equal(t, final, sum, "stop at %d: shared storage after promotion", stopAt)
		require.NoError(t, s.Close())
		return writes.Load()
	}
	total := run(0)
	step := int64(1)
	if !*crashSweepFlag {
		step = max(1, total/12)
	}
	n := 0
	for at := int64(1); at <= total; at += step {
		run(at)
		n++
	}
	t.Logf("seed %d: writer made %d write-path operations; promoted a copier after a crash at %d of them", seed, total, n)
}

// TestNode_crashSweep_backgroundCheckpoint is TestNode_crashSweep's check
// with the checkpointer's goroutine running beside the applier, as in
// production: the crash points fall wherever the two interleave, during
// background checkpoints among them (the crash at the n-th file
// operation, counted over both). Every crash must leave an intact
// database at a batch boundary at or past the last Flush, from which the
// log replays to the final state.
func TestNode_crashSweep_backgroundCheckpoint(t *testing.T) {
	seed := testSeed(t)
	steps := sweepSteps(t, rand.New(rand.NewPCG(seed, 97)), 60)
	opts := Options{Path: "db", WALAutoCheckpoint: 16}

	// The reference: checksums by index (the state at an index does not
	// depend on when checkpoints ran).
	ro := opts
	refFS := &crashFS{MemFS: vfs.NewMem(), at: -1}
	ro.VFS = registerFS(t, refFS)
	ref := openTestNode(t, ro)
	sums, final := sweepReference(t, ref, steps)
	// The operation counts vary with the interleaving: crash within the
	// first nine tenths of the reference's (a run that ends before its
	// crash point is left out).
	total := refFS.ops.Load() * 9 / 10
	var bg int64
	crashes := 0
	for at := int64(1); at <= total; at += max(1, total/40) {
		cfs := &crashFS{MemFS: vfs.NewMem(), at: at, keep: 0.5, seed: int64(seed) + at}
		o := opts
		o.VFS = registerFS(t, cfs)
		n, err := Open(o)
		require.NoError(t, err)
		var flushed, flushedAtCrash atomic.Uint64
		cfs.onCrash = func() { flushedAtCrash.Store(flushed.Load()) }
		for _, s := range steps {
			_, err := n.ApplyBatch(s.batch)
			require.NoError(t, err)
			if s.flush {
				idx, err := n.Flush()
				require.NoError(t, err)
				flushed.Store(idx)
			}
		}
		bg += n.CheckpointStats().Runs
		require.NoError(t, n.Close())
		cfs.mu.Lock()
		clone := cfs.clone
		cfs.mu.Unlock()
		if clone == nil { // this interleaving made fewer operations
			continue
		}
		crashes++

		checkRecovery(t, o, clone, flushedAtCrash.Load(), sums, final, steps, fmt.Sprintf("crash at op %d", at))
	}
	require.NotZero(t, bg, "no background checkpoint ran")
	require.Greater(t, crashes, 30, "crashes")
	t.Logf("seed %d: crashed at %d points of ~%d operations; %d background checkpoints ran", seed, crashes, total, bg)
}

// sweepReference applies steps on ref, as runSweep does, and returns the
// checksum at the start and after every step, by index, and the final one.
func sweepReference(t *testing.T, ref *Node, steps []sweepStep) (map[uint64]Checksum, Checksum) {
	t.Helper()
	ctx := context.Background()
	sums := map[uint64]Checksum{}
	sum, err := ref.Checksum(ctx)
	require.NoError(t, err)
	sums[sum.Index] = sum
	for _, s := range steps {
		_, err := ref.ApplyBatch(s.batch)
		require.NoError(t, err)
		stepCheckpoint(ref)
		if s.flush {
			_, err := ref.Flush()
			require.NoError(t, err)
		}
		sum, err := ref.Checksum(ctx)
		require.NoError(t, err)
		sums[sum.Index] = sum
	}
	final, err := ref.Checksum(ctx)
	require.NoError(t, err)
	return sums, final
}

// checkRecovery opens the crashed storage clone with o and checks it: an
// intact database whose applied index is at least flushed and a batch
// boundary, in exactly the reference's state there (sums), and replaying
// steps gives the final state. what names the crash in messages.
func checkRecovery(t *testing.T, o Options, clone *vfs.MemFS, flushed uint64, sums map[uint64]Checksum, final Checksum, steps []sweepStep, what string) {
	t.Helper()
	ctx := context.Background()
	o.VFS = registerFS(t, clone)
	rec, err := Open(o)
	require.NoError(t, err, "%s: reopen", what)
	got := rec.AppliedIndex()
	rs, err := rec.Query(ctx, []Statement{{SQL: "PRAGMA integrity_check"}})
	require.NoError(t, err)
	require.Empty(t, rs[0].Error)
	require.Equal(t, "ok", rs[0].Values[0][0], "%s: integrity", what)
	require.GreaterOrEqual(t, got, flushed, "%s: recovered index below the flushed one", what)
	sum, err := rec.Checksum(ctx)
	require.NoError(t, err)
	want, ok := sums[got]
	require.True(t, ok, "%s: recovered index %d is no batch boundary", what, got)
	require.Equal(t, want, sum, "%s: state at recovered index %d", what, got)
	var ignored uint64
	runSweep(t, rec, steps, &ignored) // replay: entries <= got are skipped
	sum, err = rec.Checksum(ctx)
	require.NoError(t, err)
	require.Equal(t, final, sum, "%s: after replay", what)
	require.NoError(t, rec.Close())
}
