package netstorage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// The tests in this file drive Storages' role transitions directly, each
// member's node a fakeNode over one replicated state that the test moves
// (elect, exclude), the members on a stabilitytest.Network. They pin what
// the former in-process Storage's tests pinned, under the same names: a
// copier view is preserved for by the writer that
// mutates from its first mutation on (invariants 1 and 2), and a role
// change whose engine fails to open opens it when the node calls again.

// roleLease is the stability lease of the role tests.
const roleLease = time.Second

// roleGroup is the state every fakeNode of a test applied (unless it
// lags), the members' Storages and their network.
//
// Concurrency: safe for concurrent use.
type roleGroup struct {
	t      testing.TB
	shared vfs.FS
	net    *stabilitytest.Network

	// mu guards the fields in it.
	mu struct {
		sync.Mutex
		st       raftcluster.State
		nodes    map[string]*fakeNode
		storages []*netstorage.Storage
	}
}

// newRoleGroup returns a group over a shared MemFS holding log.txt =
// "old!"; the storages it makes are checked and closed when the test ends.
func newRoleGroup(t testing.TB) *roleGroup {
	t.Helper()
	shared := vfs.NewMem()
	require.NoError(t, vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644))
	return newRoleGroupOn(t, shared)
}

func newRoleGroupOn(t testing.TB, shared vfs.FS) *roleGroup {
	g := &roleGroup{t: t, shared: shared, net: stabilitytest.NewNetwork(1)}
	g.mu.nodes = map[string]*fakeNode{}
	t.Cleanup(func() {
		g.mu.Lock()
		sts := slices.Clone(g.mu.storages)
		g.mu.Unlock()
		for _, s := range sts {
			assert.NoError(t, s.Check())
			assert.NoError(t, s.Close())
		}
	})
	return g
}

// member adds member id (to the state, the network and the group) with
// its Storage driving eng.
func (g *roleGroup) member(id string, eng netstorage.Engine) *netstorage.Storage {
	g.t.Helper()
	s, err := netstorage.New(netstorage.Config{ID: id, Shared: g.shared, Transport: g.net.Transport(id),
		Engine: eng, View: cow.Options{BlockSize: 512}, Lease: roleLease})
	require.NoError(g.t, err)
	n := &fakeNode{g: g, id: id}
	g.mu.Lock()
	g.mu.st.Index++
	g.mu.st.Generation++
	g.mu.st.Members = append(g.mu.st.Members, raftcluster.Member{ID: id, Suffrage: raftcluster.Voter,
		Role: raftcluster.RoleCopier, Generation: g.mu.st.Generation, JoinIndex: g.mu.st.Index})
	slices.SortFunc(g.mu.st.Members, func(a, b raftcluster.Member) int { return strings.Compare(a.ID, b.ID) })
	g.mu.nodes[id] = n
	g.mu.storages = append(g.mu.storages, s)
	g.mu.Unlock()
	g.net.Listen(id, s.Handler())
	s.SetNode(n)
	return s
}

// elect makes id the writer of the next epoch and returns the epoch.
func (g *roleGroup) elect(id string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := &g.mu.st
	st.Index++
	st.Epoch++
	st.Writer = id
	st.History = append(st.History, raftcluster.WriterTerm{Epoch: st.Epoch, ID: id, Index: st.Index})
	for i := range st.Members {
		if st.Members[i].ID == id {
			st.Members[i].Role = raftcluster.RoleWriter
		} else {
			st.Members[i].Role = raftcluster.RoleCopier
		}
	}
	return st.Epoch
}

// exclude records that the writer excluded member id.
func (g *roleGroup) exclude(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := &g.mu.st
	st.Index++
	st.Generation++
	for i := range st.Members {
		if m := &st.Members[i]; m.ID == id {
			m.Excluded, m.ExcludedEpoch, m.ExcludedIndex = true, st.Epoch, st.Index
		}
	}
}

func (g *roleGroup) state() raftcluster.State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.st.Clone()
}

// lag freezes member id's node at the state as it is now (nil: it
// follows the group's state again).
func (g *roleGroup) lag(id string, frozen bool) {
	g.mu.Lock()
	n := g.mu.nodes[id]
	g.mu.Unlock()
	var st *raftcluster.State
	if frozen {
		s := g.state()
		st = &s
	}
	n.lagged.Store(st)
}

// fakeNode is a member's node as a Storage sees it: it applied the
// group's state (or, lagging, an older one); it leads while it is the
// state's writer, and its Guard passes only then.
//
// Concurrency: safe for concurrent use.
type fakeNode struct {
	g      *roleGroup
	id     string
	lagged atomic.Pointer[raftcluster.State]
}

var _ netstorage.Node = (*fakeNode)(nil)

func (n *fakeNode) State() raftcluster.State {
	if st := n.lagged.Load(); st != nil {
		return st.Clone()
	}
	return n.g.state()
}

func (n *fakeNode) IsLeader() bool { return n.State().Writer == n.id }

func (n *fakeNode) Guard() func(context.Context) error {
	return func(context.Context) error {
		if st := n.State(); st.Writer != n.id {
			return fmt.Errorf("%w: %s: the writer of epoch %d is %s", raftcluster.ErrFenced, n.id, st.Epoch, st.Writer)
		}
		return nil
	}
}

func (n *fakeNode) Exclude(_ context.Context, id string) error {
	n.g.exclude(id)
	return nil
}

// nopEngine is an engine that holds nothing: the test reads the views.
type nopEngine struct{}

func (nopEngine) Close() error                       { return nil }
func (nopEngine) Open(context.Context, vfs.FS) error { return nil }

// gateEngine is an engine whose Close or Open, once armed, waits for
// release (a database finishing an apply, or catching up from the log).
type gateEngine struct {
	closeArmed, openArmed bool
	release               chan struct{}
}

func (g *gateEngine) Open(context.Context, vfs.FS) error {
	if g.openArmed {
		<-g.release
	}
	return nil
}

func (g *gateEngine) Close() error {
	if g.closeArmed {
		<-g.release
	}
	return nil
}

// flakyEngine fails its first fails Opens, then opens; it records the
// views it opened on.
type flakyEngine struct {
	fails int
	opens []vfs.FS
	open  bool
}

var errFlaky = errors.New("flaky open")

func (f *flakyEngine) Open(_ context.Context, fsys vfs.FS) error {
	if f.fails > 0 {
		f.fails--
		return errFlaky
	}
	f.opens = append(f.opens, fsys)
	f.open = true
	return nil
}

func (f *flakyEngine) Close() error { f.open = false; return nil }

// assertOpenOn checks that the engine opened once, on v, which has role.
func (f *flakyEngine) assertOpenOn(t *testing.T, v *cow.View, role cow.Role) {
	t.Helper()
	require.NotNil(t, v)
	require.Equal(t, role, v.Role())
	require.True(t, f.open, "engine open")
	require.Equal(t, []vfs.FS{v}, f.opens, "the views the engine opened on")
}

func readLog(t testing.TB, fsys vfs.FS) string {
	t.Helper()
	b, err := vfs.ReadFile(fsys, "log.txt")
	require.NoError(t, err)
	return string(b)
}

// assertPreserved overwrites log.txt ("old!") through the writer's view
// and checks that the copier still reads the old bytes.
func assertPreserved(t testing.TB, writer, copier vfs.FS) {
	t.Helper()
	require.NoError(t, vfs.WriteFile(writer, "log.txt", []byte("new!"), 0o644))
	require.Equal(t, "old!", readLog(t, copier), "the copier after the writer's overwrite")
	require.Equal(t, "new!", readLog(t, writer), "the writer")
}

// epoch1 makes a the writer of epoch 1 and w its copier, elects w for
// epoch 2 and fences a (which keeps its writer view).
func epoch1(t testing.TB, g *roleGroup, a, w *netstorage.Storage) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, a.BecomeWriter(ctx, g.elect("a")))
	require.NoError(t, w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}))
	a.SetCopiers(1, g.state().Generation, []raftcluster.Member{{ID: "w", Generation: 1}})
	g.elect("w")
	a.Fence(1)
}

// newEpoch2 returns a group in which a was the writer of epoch 1 and w, its
// copier, has become the writer of epoch 2 (a is fenced and still holds
// its writer view).
func newEpoch2(t testing.TB) (g *roleGroup, a, w *netstorage.Storage) {
	t.Helper()
	g = newRoleGroup(t)
	a, w = g.member("a", nopEngine{}), g.member("w", nopEngine{})
	epoch1(t, g, a, w)
	require.NoError(t, w.BecomeWriter(context.Background(), 2))
	return g, a, w
}

// A deposed writer reopening as a copier while the next writer promotes:
// its engine's Close holds it up, and the next writer starts its
// Coordinator and runs SetCopiers meanwhile. The writer must still
// preserve for the new copier view, so its later overwrite stays
// invisible to the copier (invariants 1 and 2): the view joins through
// the writer's reset handshake.
func TestStorage_BecomeWriter_copierInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		aEng := &gateEngine{release: make(chan struct{})}
		a, w := g.member("a", aEng), g.member("w", nopEngine{})
		epoch1(t, g, a, w)

		aEng.closeArmed = true
		aDone := make(chan error, 1)
		go func() { aDone <- a.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}) }()
		synctest.Wait()
		require.NoError(t, w.BecomeWriter(ctx, 2))
		w.SetCopiers(2, g.state().Generation, []raftcluster.Member{{ID: "a", Generation: 1}})
		close(aEng.release)
		require.NoError(t, <-aDone)
		assertPreserved(t, w.FS(), a.FS())
	})
}

// A member making its copier view while the next writer promotes (held
// up in the promotion's sync of shared storage) must be preserved for by
// that writer from its first mutation on, before any SetCopiers
// (invariants 1 and 2): its join waits for the promotion. A join whose ctx
// ends returns the ctx's error. Real time: the join waits on the writer
// view's lock, which a synctest bubble cannot wait out.
func TestStorage_BecomeCopier_writerPromoting(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	require.NoError(t, vfs.WriteFile(mem, "log.txt", []byte("old!"), 0o644))
	var armed atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	shared := errorfs.WithErrors(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpSync && armed.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
		return nil
	}))
	g := newRoleGroupOn(t, shared)
	a, w := g.member("a", nopEngine{}), g.member("w", nopEngine{})
	epoch1(t, g, a, w)
	x := g.member("x", nopEngine{})
	// The writer's handler tells when x's handshake reaches it.
	resetting := make(chan struct{}, 16)
	g.net.Listen("w", resetSignal{w.Handler(), resetting})

	armed.Store(true)
	wDone, xDone := make(chan error, 1), make(chan error, 1)
	go func() { wDone <- w.BecomeWriter(ctx, 2) }()
	<-held // w promotes, held up in its sync
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, x.BecomeCopier(canceled, 2, raftcluster.Member{ID: "w"}), context.Canceled,
		"BecomeCopier with a canceled ctx during a promotion")
	go func() { xDone <- x.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}) }()
	<-resetting
	close(release)
	require.NoError(t, errors.Join(<-wDone, <-xDone))
	assertPreserved(t, w.FS(), x.FS())
}

// resetSignal is a stability.Handler that signals each reset handshake it
// receives whose ctx has not ended on c (dropping signals c has no room
// for).
type resetSignal struct {
	stability.Handler
	c chan<- struct{}
}

func (h resetSignal) HandleReset(ctx context.Context, from string, st stability.ResetStream) error {
	if ctx.Err() == nil {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
	return h.Handler.HandleReset(ctx, from, st)
}

// A member becoming a copier while a fresh writer's engine opens (and
// catches up, writing through the writer view before SetCopiers) must
// join that writer's stabilizer (invariants 1 and 2).
func TestStorage_BecomeCopier_writerOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		wEng := &gateEngine{openArmed: true, release: make(chan struct{})}
		w, c := g.member("w", wEng), g.member("c", nopEngine{})
		wDone := make(chan error, 1)
		go func() { wDone <- w.BecomeWriter(ctx, g.elect("w")) }()
		synctest.Wait()
		require.NoError(t, c.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}))
		close(wEng.release)
		require.NoError(t, <-wDone)
		assertPreserved(t, w.FS(), c.FS())
	})
}

// A role change whose view is made and whose role is reached, but whose
// engine fails to open, is called again by the node: the second call must
// open the engine on the view.
func TestStorage_BecomeWriter_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleWriter, func(ctx context.Context, g *roleGroup, s *netstorage.Storage) error {
		return s.BecomeWriter(ctx, g.state().Epoch)
	})
}

func TestStorage_BecomeCopier_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleCopier, func(ctx context.Context, _ *roleGroup, s *netstorage.Storage) error {
		return s.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"})
	})
}

func TestStorage_Reset_retriesFailedOpen(t *testing.T) {
	testRetriesFailedOpen(t, cow.RoleCopier, func(ctx context.Context, _ *roleGroup, s *netstorage.Storage) error {
		return s.Reset(ctx, 1, raftcluster.Member{ID: "w"})
	})
}

// testRetriesFailedOpen runs change twice on member n1 of a group whose
// writer is w (n1 itself when role is the writer's).
func testRetriesFailedOpen(t *testing.T, role cow.Role, change func(context.Context, *roleGroup, *netstorage.Storage) error) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		eng := &flakyEngine{fails: 1}
		s := g.member("n1", eng)
		if role == cow.RoleWriter {
			g.elect("n1")
		} else {
			w := g.member("w", nopEngine{})
			require.NoError(t, w.BecomeWriter(ctx, g.elect("w")))
		}
		require.ErrorIs(t, change(ctx, g, s), errFlaky, "first call")
		require.NoError(t, change(ctx, g, s), "second call")
		eng.assertOpenOn(t, s.View(), role)
	})
}

// A copier whose engine failed to open, promoted: the engine opens on the
// promoted view.
func TestStorage_BecomeWriter_promotesAfterFailedOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		eng := &flakyEngine{fails: 1}
		s, w := g.member("n1", eng), g.member("w", nopEngine{})
		require.NoError(t, w.BecomeWriter(ctx, g.elect("w")))
		require.ErrorIs(t, s.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}), errFlaky, "BecomeCopier")
		v := s.View()
		g.elect("n1")
		w.Fence(1)
		require.NoError(t, s.BecomeWriter(ctx, 2))
		require.Same(t, v, s.View(), "the copier view, promoted")
		eng.assertOpenOn(t, s.View(), cow.RoleWriter)
	})
}

// A node that lags behind the log names the writer of an older epoch,
// which no longer mutates and refuses the handshake: the copier view it
// makes joins no writer, so the engine does not open on it. When the node
// calls again with the writer that mutates now, the view joins that
// writer, which preserves for it.
func TestStorage_BecomeCopier_staleWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g, _, w := newEpoch2(t)
		eng := &flakyEngine{}
		x := g.member("x", eng)
		g.lag("x", true)
		require.Error(t, x.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}), "join the writer of epoch 1")
		require.False(t, eng.open, "engine opened on a view no writer preserves for")
		g.lag("x", false)
		require.NoError(t, x.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}))
		assertPreserved(t, w.FS(), x.FS())
		eng.assertOpenOn(t, x.View(), cow.RoleCopier)
	})
}

func TestStorage_Reset_staleWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g, a, w := newEpoch2(t)
		x := g.member("x", nopEngine{})
		require.NoError(t, a.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}))
		require.NoError(t, x.BecomeCopier(ctx, 2, raftcluster.Member{ID: "w"}))
		g.lag("x", true)
		// x's node still names a, of epoch 1 (the test's group moved on
		// without x applying it).
		require.Error(t, x.Reset(ctx, 1, raftcluster.Member{ID: "a"}), "reset with the writer of epoch 1")
		g.lag("x", false)
		require.NoError(t, x.Reset(ctx, 2, raftcluster.Member{ID: "w"}))
		assertPreserved(t, w.FS(), x.FS())
	})
}

// An excluded copier (the state lists it as excluded, and SetCopiers
// follows) resets before it rejoins: from the reset on, the writer
// preserves for it again.
func TestStorage_Reset_excludedCopier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		w, x := g.member("w", nopEngine{}), g.member("x", nopEngine{})
		require.NoError(t, w.BecomeWriter(ctx, g.elect("w")))
		require.NoError(t, x.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}))
		w.SetCopiers(1, g.state().Generation, []raftcluster.Member{{ID: "x", Generation: 1}})
		g.exclude("x")
		w.SetCopiers(1, g.state().Generation, nil)
		require.NoError(t, x.Reset(ctx, 1, raftcluster.Member{ID: "w"}))
		assertPreserved(t, w.FS(), x.FS())
	})
}

// A writer deposed and then elected again, without becoming a copier in
// between (its node lagged behind the log), must not keep its old writer
// view: another member wrote since, and the view's caches (file sizes)
// and the engine opened on it are stale. It reopens on a fresh writer
// view that sees the other writer's mutations.
func TestStorage_BecomeWriter_afterAnotherWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		aEng := &flakyEngine{}
		a, w := g.member("a", aEng), g.member("w", nopEngine{})
		require.NoError(t, a.BecomeWriter(ctx, g.elect("a")))
		require.NoError(t, w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}))
		require.Equal(t, "old!", readLog(t, a.FS())) // the writer view caches the size
		g.elect("w")
		a.Fence(1)
		require.NoError(t, w.BecomeWriter(ctx, 2))
		const second = "old!new, written in epoch 2"
		require.NoError(t, vfs.WriteFile(w.FS(), "log.txt", []byte(second), 0o644))
		g.elect("a")
		w.Fence(2)
		require.NoError(t, a.BecomeWriter(ctx, 3))
		require.Equal(t, second, readLog(t, a.FS()), "the writer of epoch 3")
		require.True(t, aEng.open)
		require.Len(t, aEng.opens, 2)
		require.Equal(t, vfs.FS(a.View()), aEng.opens[1], "the engine reopened on the new writer view")
	})
}

// A copier view invalidated (its engine misses what the log no longer
// holds) is not promoted when it becomes the writer: promoting would push
// its overlay, undoing the previous writer's mutations on shared storage.
// It opens a fresh writer view on shared storage as the previous writer
// left it, and the engine reopens on that view.
func TestStorage_BecomeWriter_invalidatedCopier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		eng := &flakyEngine{}
		a, w := g.member("a", nopEngine{}), g.member("w", eng)
		require.NoError(t, a.BecomeWriter(ctx, g.elect("a")))
		require.NoError(t, w.BecomeCopier(ctx, 1, raftcluster.Member{ID: "a"}))
		a.SetCopiers(1, g.state().Generation, []raftcluster.Member{{ID: "w", Generation: 1}})
		require.NoError(t, vfs.WriteFile(a.FS(), "log.txt", []byte("new!"), 0o644))
		g.elect("w")
		a.Fence(1)
		old := w.View()
		require.Equal(t, "old!", readLog(t, old), "the copier before the promotion")
		old.Invalidate(errors.New("test: gap"))
		require.NoError(t, w.BecomeWriter(ctx, 2))
		v := w.View()
		require.NotSame(t, old, v)
		require.Equal(t, cow.RoleWriter, v.Role())
		require.Equal(t, "new!", readLog(t, v), "the new writer reads the previous writer's")
		require.True(t, eng.open)
		require.Len(t, eng.opens, 2)
		require.Equal(t, vfs.FS(v), eng.opens[1], "the engine reopened on the writer view")
	})
}

// A member whose copier view is made after the writer's SetCopiers (a late
// joiner, or a deposed writer reopening as a copier) must still be
// preserved for: the writer's later overwrites stay invisible to it
// (invariants 1 and 2).
func TestStorage_BecomeCopier_afterSetCopiers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newRoleGroup(t)
		w := g.member("w", nopEngine{})
		require.NoError(t, w.BecomeWriter(ctx, g.elect("w")))
		w.SetCopiers(1, g.state().Generation, nil) // the membership as the writer applied it: no copiers yet
		late := g.member("late", nopEngine{})
		require.NoError(t, late.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}))
		assertPreserved(t, w.FS(), late.FS())
		require.NoError(t, errors.Join(w.Check(), late.Check()))
	})
}

// The writer fails over twice (each old writer restarts as a copier) on a
// Raft cluster: every engine holds the log, shared storage is the
// writer's view, and the copiers hold their own writes in their overlays.
func TestStorage_cluster_writerFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { failover(t, 3, 1) })
}

// Copiers whose overlays pass the reset threshold reset while commands
// flow, and every engine still holds the log after each round.
func TestStorage_cluster_resetKeepsEnginesConsistent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigOptions{nodes: 3, seed: 1, configure: func(cfg *raftcluster.Config) {
			cfg.ResetThreshold = 2048
			cfg.ReportInterval = 20 * time.Millisecond
		}})
		sub := r.c.Leader().Subscribe(256)
		defer sub.Unsubscribe()
		resets := map[string]int{}
		for round := 0; len(resets) < 2 && round < 20; round++ {
			r.apply(20)
			r.check(fmt.Sprint("round ", round))
			// Reports and resets follow within a few report intervals.
			wait := time.After(time.Second)
		events:
			for {
				select {
				case ev := <-sub.C():
					if ev.Kind == raftcluster.EventResetDone {
						resets[ev.Member.ID]++
					}
				case <-wait:
					break events
				}
			}
		}
		require.GreaterOrEqual(t, len(resets), 2, "members that reset: %v", resets)
		r.check("final")
		t.Logf("resets: %v", resets)
	})
}
