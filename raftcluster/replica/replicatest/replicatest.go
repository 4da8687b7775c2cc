package replicatest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster/replica"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// Subject is the engine under test.
type Subject[D replica.DB] struct {
	// Engine opens the database on a view.
	Engine replica.Engine[D]
	// Command returns the command to log at index (deterministic; see the
	// caller-must list).
	Command func(index uint64) []byte
	// State returns the database's logical content.
	State func(db D) ([]byte, error)
	// Entries is the length of the log (default 60).
	Entries int
}

// Case is one check of the suite.
type Case struct {
	Name string
	Test func(t testing.TB)
}

// Run runs every case of Cases as a subtest.
func Run[D replica.DB](t *testing.T, s Subject[D]) {
	for _, c := range Cases(s) {
		t.Run(c.Name, func(t *testing.T) { c.Test(t) })
	}
}

// Cases returns the suite's cases for s (see the package doc).
func Cases[D replica.DB](s Subject[D]) []Case {
	if s.Entries <= 0 {
		s.Entries = 60
	}
	h := &harness[D]{s: s, n: uint64(s.Entries)}
	return []Case{
		{"apply", h.apply},
		{"crash", h.crash},
		{"failedApply", h.failedApply},
		{"reset", h.reset},
		{"resetDuringApply", h.resetDuringApply},
		{"promotion", h.promotion},
		{"catchUp", h.catchUp},
	}
}

type harness[D replica.DB] struct {
	s Subject[D]
	n uint64

	once sync.Once
	ref  map[uint64][]byte // state after every entry up to index
	err  error
}

// entry returns the log entry at index i: a durable marker every 7th, a
// foreign entry every 11th, a command otherwise.
func (h *harness[D]) entry(i uint64) []byte {
	switch {
	case i%7 == 0:
		return replica.EncodeDurable(i - 1)
	case i%11 == 0:
		return []byte("foreign")
	}
	return replica.EncodeCommand(h.s.Command(i))
}

func isCommand(i uint64) bool { return i%7 != 0 && i%11 != 0 }

// lastCommand returns the index of the last command at or below i.
func lastCommand(i uint64) uint64 {
	for ; i > 0 && !isCommand(i); i-- {
	}
	return i
}

func (h *harness[D]) newLog() *Log {
	l := NewLog()
	for i := uint64(1); i <= h.n; i++ {
		l.Append(h.entry(i))
	}
	return l
}

// reference applies the commands one by one on a fresh database and
// records the state after each index.
func (h *harness[D]) reference(t testing.TB) map[uint64][]byte {
	t.Helper()
	h.once.Do(func() {
		db, err := h.s.Engine.Open(vfs.NewMem())
		if err != nil {
			h.err = err
			return
		}
		defer db.Close()
		ref := map[uint64][]byte{}
		if ref[0], err = h.s.State(db); err != nil {
			h.err = err
			return
		}
		for i := uint64(1); i <= h.n; i++ {
			ref[i] = ref[i-1]
			if !isCommand(i) {
				continue
			}
			if err := db.Apply([]replica.Entry{{Index: i, Data: h.s.Command(i)}}); err != nil {
				h.err = err
				return
			}
			if ref[i], err = h.s.State(db); err != nil {
				h.err = err
				return
			}
		}
		h.ref = ref
	})
	require.NoError(t, h.err, "replicatest: reference run")
	return h.ref
}

func (h *harness[D]) newReplica(t testing.TB, lg *Log) *replica.Replica[D] {
	r := replica.New(replica.Config[D]{Engine: h.s.Engine, Name: t.Name(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RecoverEvery: 5 * time.Millisecond, CatchUpTimeout: 10 * time.Second})
	r.SetLog(lg)
	t.Cleanup(func() { r.Shutdown() })
	return r
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// state returns the published database's state.
func (h *harness[D]) state(t testing.TB, r *replica.Replica[D]) []byte {
	t.Helper()
	db, _, release, err := r.Acquire(ctx(t))
	require.NoError(t, err)
	defer release()
	st, err := h.s.State(db)
	require.NoError(t, err)
	return st
}

// opened opens the database on view directly and returns its stored
// index and state.
func (h *harness[D]) opened(t testing.TB, view vfs.FS) (uint64, []byte) {
	t.Helper()
	db, err := h.s.Engine.Open(view)
	require.NoError(t, err)
	defer db.Close()
	k, err := db.Applied()
	require.NoError(t, err)
	st, err := h.s.State(db)
	require.NoError(t, err)
	return k, st
}

func requireState(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if !bytes.Equal(want, got) {
		require.Failf(t, "replicatest: wrong state", "want %q\ngot  %q\n%v", want, got, msgAndArgs)
	}
}

// apply: batches of every size give the one-by-one state.
func (h *harness[D]) apply(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	r := h.newReplica(t, lg)
	require.NoError(t, r.Open(ctx(t), vfs.NewMem()))
	sizes := []int{1, 2, 3, 5, 8, 13, 64}
	var out []replica.Outcome
	for i, from := 0, uint64(1); from <= h.n; i++ {
		to := min(h.n, from+uint64(sizes[i%len(sizes)])-1)
		out = append(out, lg.Feed(r, from, to, sizes[i%len(sizes)])...)
		requireState(t, ref[to], h.state(t, r), "after entry", to)
		from = to + 1
	}
	for i, o := range out {
		idx := uint64(i + 1)
		want := replica.Applied
		if idx%7 != 0 && idx%11 == 0 {
			want = replica.Ignored
		}
		require.Equal(t, want, o, "outcome of entry %d", idx)
	}
	require.NoError(t, r.Check())
	st := r.Stats()
	require.Equal(t, lastCommand(h.n), st.Applied)
	require.Positive(t, st.Batches)
	require.Zero(t, st.Failures)
}

// crash: every power-loss state after a sync is a committed prefix.
func (h *harness[D]) crash(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	mem := vfs.NewMem()
	type clone struct {
		fs   *vfs.MemFS
		keep float64
	}
	var mu sync.Mutex
	var clones []clone
	view := &syncFS{FS: mem, after: func() {
		mu.Lock()
		defer mu.Unlock()
		seed := int64(len(clones))
		clones = append(clones, clone{mem.CrashClone(vfs.CrashOptions{Seed: seed}), 0},
			clone{mem.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsynced: 0.5}), 0.5})
	}}
	r := h.newReplica(t, lg)
	require.NoError(t, r.Open(ctx(t), view))
	lg.Feed(r, 1, h.n, 4)
	d, ok := r.DurableIndex()
	require.True(t, ok, "DurableIndex on a writer view")
	require.Equal(t, h.n, d)
	mu.Lock()
	got := clones
	mu.Unlock()
	require.NotEmpty(t, got, "the engine never synced")
	last := mem.CrashClone(vfs.CrashOptions{})
	k, st := h.opened(t, last)
	require.Equal(t, lastCommand(h.n), k, "after DurableIndex, a crash must keep every entry")
	requireState(t, ref[h.n], st)

	var prev uint64
	for i, c := range got {
		k, st := h.opened(t, c.fs)
		require.LessOrEqual(t, k, h.n)
		requireState(t, ref[k], st, "crash clone", i, "keep", c.keep, "stored index", k)
		if c.keep == 0 {
			require.GreaterOrEqual(t, k, prev, "crash clone %d: a synced index was lost", i)
			prev = k
		}
		if i%7 == 0 || i == len(got)-1 {
			r2 := h.newReplica(t, lg)
			require.NoError(t, r2.Open(ctx(t), c.fs), "crash clone %d", i)
			requireState(t, ref[h.n], h.state(t, r2), "crash clone", i, "after catch-up")
			require.NoError(t, r2.Shutdown())
		}
	}
}

// failedApply: a batch that fails leaves nothing behind.
func (h *harness[D]) failedApply(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	tog := errorfs.NewToggle(errorfs.When(func(op errorfs.Op) bool { return op.Kind.IsMutation() }, errorfs.Always()))
	view := errorfs.WithErrors(vfs.NewMem(), tog)
	r := h.newReplica(t, lg)
	require.NoError(t, r.Open(ctx(t), view))
	mid := h.n / 2
	lg.Feed(r, 1, mid, 3)
	tog.Arm()
	out := lg.Feed(r, mid+1, mid+6, 6)
	for i, o := range out {
		if isCommand(mid + 1 + uint64(i)) {
			require.Equal(t, replica.Deferred, o, "entry %d applied while its writes failed", mid+1+uint64(i))
		}
	}
	require.Positive(t, r.Stats().Failures)
	tog.Disarm()
	lg.Feed(r, mid+7, h.n, 3)
	requireState(t, ref[h.n], h.state(t, r))
	require.NoError(t, r.Check())
	require.Positive(t, r.Stats().Reopens)
}

// reset: reopening mid-stream on a copy of the storage catches up.
func (h *harness[D]) reset(t testing.TB) {
	ref := h.reference(t)
	for _, keep := range []float64{0, 1} {
		lg := h.newLog()
		mem := vfs.NewMem()
		r := h.newReplica(t, lg)
		require.NoError(t, r.Open(ctx(t), mem))
		mid := h.n / 3
		lg.Feed(r, 1, mid, 5)
		copied := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep})
		require.NoError(t, r.Close())
		lg.Feed(r, mid+1, 2*mid, 5) // while closed: deferred
		require.False(t, r.Ready())
		require.NoError(t, r.Open(ctx(t), copied))
		requireState(t, ref[2*mid], h.state(t, r), "keep", keep)
		lg.Feed(r, 2*mid+1, h.n, 5)
		requireState(t, ref[h.n], h.state(t, r), "keep", keep)
		require.NoError(t, r.Check())
	}
}

// resetDuringApply: while entries are being applied, the replica is
// moved to copies of its view taken at any moment (mid-apply included),
// as a copier reset does; it ends with every entry.
func (h *harness[D]) resetDuringApply(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	cur := vfs.NewMem()
	r := h.newReplica(t, lg)
	require.NoError(t, r.Open(ctx(t), cur))
	done := make(chan struct{})
	go func() {
		defer close(done)
		lg.Feed(r, 1, h.n, 2)
	}()
	for i := 0; i < 4; i++ {
		next := cur.CrashClone(vfs.CrashOptions{Seed: int64(i), KeepUnsynced: float64(i%2) / 2})
		require.NoError(t, r.Open(ctx(t), next), "reset %d", i)
		cur = next
	}
	<-done
	requireState(t, ref[h.n], h.state(t, r))
	require.NoError(t, r.Check())
}

// fanout hands each call to every replica.
type fanout[D replica.DB] []*replica.Replica[D]

func (f fanout[D]) Apply(es []replica.Entry) []replica.Outcome {
	var out []replica.Outcome
	for _, r := range f {
		out = r.Apply(es)
	}
	return out
}

// promotion: the writer crashes; a follower carries on, on what it left.
func (h *harness[D]) promotion(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	shared, own := vfs.NewMem(), vfs.NewMem()
	w, c := h.newReplica(t, lg), h.newReplica(t, lg)
	require.NoError(t, w.Open(ctx(t), shared))
	require.NoError(t, c.Open(ctx(t), own))
	mid := 2 * h.n / 3
	lg.Feed(fanout[D]{w, c}, 1, mid, 4)
	requireState(t, ref[mid], h.state(t, c))
	left := shared.CrashClone(vfs.CrashOptions{Seed: 7, KeepUnsynced: 0.5})
	w.Interrupt()
	require.NoError(t, w.Shutdown())

	require.NoError(t, c.Close())
	require.NoError(t, c.Open(ctx(t), left))
	requireState(t, ref[mid], h.state(t, c), "promoted, before new entries")
	lg.Feed(c, mid+1, h.n, 4)
	d, ok := c.DurableIndex()
	require.True(t, ok)
	require.Equal(t, h.n, d)
	k, st := h.opened(t, left.CrashClone(vfs.CrashOptions{}))
	require.Equal(t, lastCommand(h.n), k)
	requireState(t, ref[h.n], st)
}

// catchUp: a replica opened late catches up, also past a compaction.
func (h *harness[D]) catchUp(t testing.TB) {
	ref := h.reference(t)
	lg := h.newLog()
	early := h.n - 10
	lg.SetApplied(early)
	mem := vfs.NewMem()
	r := h.newReplica(t, lg)
	require.NoError(t, r.Open(ctx(t), mem))
	requireState(t, ref[early], h.state(t, r))
	_, ok := r.DurableIndex()
	require.True(t, ok)
	require.NoError(t, r.Shutdown())

	// The member is down while the log moves on and is compacted up to
	// what the shared database durably holds.
	lg.SetApplied(h.n)
	lg.Compact(early + 1)
	r2 := h.newReplica(t, lg)
	require.NoError(t, r2.Open(ctx(t), mem.CrashClone(vfs.CrashOptions{})))
	requireState(t, ref[h.n], h.state(t, r2))
	require.Equal(t, lastCommand(h.n), r2.Stats().Applied)
}
