package netstorage_test

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

var verbose = flag.Bool("verbose", false, "log the members at debug level")

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: the tests' fixed seeds)")

// seeds returns the seeds to run: the -seed flag's alone, or n fixed ones.
func seeds(n int) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// rig is a cluster of members on clustertest's in-memory Raft network and
// a stabilitytest.Network, each with a netstorage.Storage over one shared
// MemFS (seen through a recorder) and an engine.
type rig struct {
	t      testing.TB
	c      *clustertest.Cluster
	shared *vfs.MemFS
	rec    *recorder
	snet   *stabilitytest.Network
	lease  time.Duration
	opts   rigOptions

	mu       sync.Mutex
	engines  map[string]*engine
	storages map[string]*netstorage.Storage
	nodes    map[string]*raftcluster.Node
	killed   []*engine      // engines of killed incarnations, for their failures
	inReset  map[string]int // Storage.Reset calls in progress, by member
	next     int
}

type rigOptions struct {
	nodes     int
	seed      uint64
	configure func(cfg *raftcluster.Config)
	// lease overrides the stability lease (default 3s).
	lease time.Duration
	// timeouts overrides clustertest's Raft timeouts.
	timeouts *raftcluster.Timeouts
	// wrap, if set, wraps each member's stability handler.
	wrap func(id string, h stability.Handler) stability.Handler
	// grpc, if set, carries stability over gRPC with mutual TLS instead of
	// the stabilitytest.Network.
	grpc *grpcNet
	// beforeApply, if set, runs on member id's FSM goroutine before each
	// application command reaches its engine (it may block it).
	beforeApply func(id string, index uint64)
	// newStore, if set, gives member id's Storage its Config.NewStore.
	newStore func(id string) func() (cow.Store, error)
}

// recStorage records each BecomeWriter as the beginning of its epoch, and
// marks where the engine's next Open may start from.
type recStorage struct {
	*netstorage.Storage
	id string
	r  *rig
}

func (s recStorage) BecomeWriter(ctx context.Context, epoch uint64) error {
	s.r.engine(s.id).markLo()
	s.r.rec.begin(s.id, epoch)
	return s.Storage.BecomeWriter(ctx, epoch)
}

func (s recStorage) BecomeCopier(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	s.r.engine(s.id).markLo()
	return s.Storage.BecomeCopier(ctx, epoch, w)
}

func (s recStorage) Reset(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	s.r.engine(s.id).markLo()
	s.r.mu.Lock()
	s.r.inReset[s.id]++
	s.r.mu.Unlock()
	defer func() {
		s.r.mu.Lock()
		s.r.inReset[s.id]--
		s.r.mu.Unlock()
	}()
	return s.Storage.Reset(ctx, epoch, w)
}

// resetting reports whether member id's node is inside Storage.Reset.
func (r *rig) resetting(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inReset[id] > 0
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, shared: vfs.NewMem(), rec: &recorder{}, snet: stabilitytest.NewNetwork(o.seed),
		lease: cmp.Or(o.lease, 3*time.Second), opts: o, engines: map[string]*engine{}, storages: map[string]*netstorage.Storage{},
		nodes: map[string]*raftcluster.Node{}, inReset: map[string]int{}}
	// Registered before the cluster's own cleanup, so it runs after the
	// nodes have shut down.
	t.Cleanup(r.closeAll)
	r.c = clustertest.New(t, clustertest.Options{Nodes: o.nodes, Verbose: *verbose, Timeouts: o.timeouts,
		Storage: r.newStorage,
		Configure: func(cfg *raftcluster.Config) {
			if o.configure != nil {
				o.configure(cfg)
			}
			if o.grpc != nil {
				cfg.StabilityAddr = o.grpc.addr(cfg.ID)
			}
			id, e := cfg.ID, r.engine(cfg.ID)
			rec := cfg.Apply
			cfg.Apply = func(i uint64, cmd []byte) []byte {
				if o.beforeApply != nil {
					o.beforeApply(id, i)
				}
				e.Apply(i, cmd)
				return rec(i, cmd)
			}
		},
		OnStart: func(id string, n *raftcluster.Node) {
			r.mu.Lock()
			r.nodes[id] = n
			st := r.storages[id]
			r.mu.Unlock()
			st.SetNode(n)
		},
	})
	r.waitVoters()
	return r
}

// waitVoters waits until every member (up to 5) is a voter, so that a
// quorum survives killing one.
func (r *rig) waitVoters() {
	r.t.Helper()
	r.c.WaitFor("voters", 20*time.Second, func() bool {
		st := r.c.Leader().State()
		voters := 0
		for _, m := range st.Members {
			if m.Suffrage == raftcluster.Voter {
				voters++
			}
		}
		return voters >= min(len(st.Members), 5)
	})
}

func (r *rig) newStorage(id string) raftcluster.Storage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.storages[id]; old != nil {
		old.Close()
		r.killed = append(r.killed, r.engines[id])
	}
	e := &engine{id: id, rec: r.rec, node: func() *raftcluster.Node { return r.node(id) }}
	var tr stability.Transport = r.snet.Transport(id)
	if r.opts.grpc != nil {
		tr = r.opts.grpc.transport(id)
	}
	var newStore func() (cow.Store, error)
	if r.opts.newStore != nil {
		newStore = r.opts.newStore(id)
	}
	st, err := netstorage.New(netstorage.Config{ID: id, Shared: &recFS{FS: r.shared, node: id, rec: r.rec},
		Transport: tr, Engine: e, View: cow.Options{BlockSize: 512}, Lease: r.lease,
		NewStore: newStore, Logger: r.logger(id)})
	if err != nil {
		r.t.Fatal(err)
	}
	var h stability.Handler = st.Handler()
	if r.opts.wrap != nil {
		h = r.opts.wrap(id, h)
	}
	if r.opts.grpc != nil {
		r.opts.grpc.serve(id, h)
	} else {
		r.snet.ListenAt("stab-"+id, id, h)
	}
	r.engines[id], r.storages[id] = e, st
	return recStorage{Storage: st, id: id, r: r}
}

func (r *rig) logger(id string) *slog.Logger {
	if !*verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(tlog{r.t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("id", id)
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func (r *rig) engine(id string) *engine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.engines[id]
}

func (r *rig) storage(id string) *netstorage.Storage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.storages[id]
}

func (r *rig) node(id string) *raftcluster.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodes[id]
}

func (r *rig) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, st := range r.storages {
		if err := st.Check(); err != nil {
			r.t.Errorf("check storage %s: %v", id, err)
		}
		st.Close()
	}
	for _, e := range append(r.killed, mapValues(r.engines)...) {
		for _, err := range e.failures() {
			r.t.Errorf("engine: %v", err)
		}
	}
	if err := r.rec.err(); err != nil {
		r.t.Error(err)
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// kill stops member id: its node, its stability endpoint and its storage.
func (r *rig) kill(id string) {
	r.t.Helper()
	r.c.Kill(id)
	r.snet.Unlisten("stab-" + id)
	if r.opts.grpc != nil {
		r.opts.grpc.serve(id, nil)
	}
	r.storage(id).Close()
}

// restart starts a killed member again (with a fresh Storage and engine).
func (r *rig) restart(id string) {
	r.c.Restart(id)
	r.waitVoters()
}

// partition splits members in both networks.
func (r *rig) partition(groups ...[]string) {
	r.c.Partition(groups...)
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					r.snet.Partition(a, b)
				}
			}
		}
	}
}

func (r *rig) heal() {
	r.c.Heal()
	r.snet.Heal()
}

// apply replicates k commands through the leader, retrying leader changes.
func (r *rig) apply(k int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range k {
		r.mu.Lock()
		cmd := fmt.Sprintf("c%d", r.next)
		r.next++
		r.mu.Unlock()
		var err error
		for range 20 {
			if _, _, err = r.c.Leader().Apply(ctx, []byte(cmd)); err == nil || errors.Is(err, raftcluster.ErrOutcomeUnknown) {
				break
			}
		}
		if err != nil && !errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			r.t.Fatalf("apply %s: %v", cmd, err)
		}
	}
}

// want is log.txt as every engine must hold it: the application commands
// in the leader's log.
func (r *rig) want(l *raftcluster.Node) (string, error) {
	var b strings.Builder
	err := l.ReadLog(1, func(i uint64, cmd []byte) error {
		fmt.Fprintf(&b, "%d:%s\n", i, cmd)
		return nil
	})
	return b.String(), err
}

// check waits until every live engine holds the leader's log, then
// checks every view against its engine's model, shared storage against the
// writer's view, the recorder's fencing log and the storages' invariants.
func (r *rig) check(stage string) {
	r.t.Helper()
	w := r.settle(stage)
	r.checkModels(stage, w)
}

// settle waits until every live member's role matches the state and every
// engine holds the leader's log; it returns the writer.
func (r *rig) settle(stage string) string {
	r.t.Helper()
	w, _ := r.c.Writer()
	var last string
	if err := clustertest.Poll(20*time.Second, func() bool {
		l := r.c.Leader()
		if err := l.Barrier(context.Background()); err != nil {
			last = err.Error()
			return false
		}
		want, err := r.want(l)
		if err != nil {
			last = err.Error()
			return false
		}
		for _, n := range r.c.Live() {
			// Roles settled: a deposed writer's view reads shared storage
			// until its node learns of the new epoch and reopens it.
			st := n.State()
			if v := r.storage(n.ID()).View(); st.Writer != w || v == nil ||
				(n.ID() == w) != (v.Role() == cow.RoleWriter) ||
				(n.ID() == w && r.storage(w).WriterEpoch() != st.Epoch) {
				last = fmt.Sprintf("%s: role not settled (state writer %s/%d)", n.ID(), st.Writer, st.Epoch)
				return false
			}
			got, ok := r.engine(n.ID()).logText()
			if !ok || got != want {
				last = fmt.Sprintf("%s: open/healthy %v, %d bytes of %d", n.ID(), ok, len(got), len(want))
				return false
			}
		}
		return true
	}); err != nil {
		for _, n := range r.c.Live() {
			st := n.State()
			r.t.Logf("%s: applied %d, epoch %d, writer %s, generation %d, members %+v; storage %+v",
				n.ID(), n.AppliedIndex(), st.Epoch, st.Writer, st.Generation, st.Members, r.storage(n.ID()).Stats())
		}
		r.t.Fatalf("%s: engines do not agree: %v (%s)", stage, err, last)
	}
	return w
}

func (r *rig) checkModels(stage, w string) {
	r.t.Helper()
	for _, n := range r.c.Live() {
		var shared vfs.FS
		if n.ID() == w {
			shared = r.shared
		}
		if err := r.engine(n.ID()).checkModel(shared); err != nil {
			r.t.Fatalf("%s: %v", stage, err)
		}
		if err := r.storage(n.ID()).Check(); err != nil {
			r.t.Fatalf("%s: %s: %v", stage, n.ID(), err)
		}
		if err := n.Check(); err != nil {
			r.t.Fatalf("%s: %s: %v", stage, n.ID(), err)
		}
	}
	if err := r.rec.err(); err != nil {
		r.t.Fatalf("%s: %v", stage, err)
	}
	if err := r.c.CheckHistories(); err != nil {
		r.t.Fatalf("%s: %v", stage, err)
	}
	for _, e := range r.allEngines() {
		if errs := e.failures(); len(errs) > 0 {
			r.t.Fatalf("%s: %v", stage, errors.Join(errs...))
		}
	}
}

func (r *rig) allEngines() []*engine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(append([]*engine(nil), r.killed...), mapValues(r.engines)...)
}
