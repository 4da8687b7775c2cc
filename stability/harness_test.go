package stability_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: derive from the time)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t testing.TB) uint64 {
	return vfstest.Seed(t, *seedFlag)
}

// coverage is what one copier has preserved in its current generation.
type coverage struct {
	meta, file map[string]bool
	blocks     map[string]map[int64]bool
}

func newCoverage() *coverage {
	return &coverage{meta: map[string]bool{}, file: map[string]bool{}, blocks: map[string]map[int64]bool{}}
}

func (c *coverage) add(r cow.Region, bs int64) {
	switch r.Kind {
	case cow.KindMeta:
		c.meta[r.Path] = true
	case cow.KindFile:
		c.file[r.Path] = true
	case cow.KindBlocks:
		if c.blocks[r.Path] == nil {
			c.blocks[r.Path] = map[int64]bool{}
		}
		for i := r.Off / bs; i*bs < r.Off+r.Len; i++ {
			c.blocks[r.Path][i] = true
		}
	}
}

// need is a requirement: the meta of a path, or its blocks [from, to), or
// the whole file (meta and every block below size).
type need struct {
	kind     cow.RegionKind
	path     string
	from, to int64
}

func (c *coverage) covers(n need, bs int64) bool {
	if c.file[n.path] {
		return true
	}
	switch n.kind {
	case cow.KindMeta:
		return c.meta[n.path]
	case cow.KindBlocks:
		for i := n.from / bs; i*bs < n.to; i++ {
			if !c.blocks[n.path][i] {
				return false
			}
		}
		return true
	case cow.KindFile:
		return c.meta[n.path] && c.covers(need{cow.KindBlocks, n.path, 0, n.to}, bs)
	}
	return false
}

// recCopier wraps a copier view: it records what the copier preserved in
// its current generation, whether it serves reads, and at which shared
// state it last reset.
type recCopier struct {
	*cow.View
	id   string
	bs   int64
	rfs  *recFS
	hang chan struct{} // if set, the next drop waits for it to close
	mu   struct {
		sync.Mutex
		cv       *coverage
		gen      int
		valid    bool
		dropAt   int // index in rfs states of the shared state at the last drop
		invalids []error
	}
}

// Preserve records what the copier preserved. A region received for a
// path where shared storage holds no file (nothing, or a directory)
// covers that path as a whole: the copier now sees its own entry there
// (an absence, or a directory), so no file the writer creates at that
// path later reaches its reads until it resets. This is what lets the
// writer skip rounds for a file it creates in the current generation (as
// cow's own recFS checker counts it).
func (c *recCopier) Preserve(ctx context.Context, rs []cow.Region) error {
	c.mu.Lock()
	gen := c.mu.gen
	c.mu.Unlock()
	nofile := make([]bool, len(rs))
	for i, r := range rs {
		fi, err := c.rfs.FS.Stat(r.Path)
		nofile[i] = errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) || (err == nil && fi.IsDir())
	}
	if err := c.View.Preserve(ctx, rs); err != nil {
		return err
	}
	c.mu.Lock()
	if c.mu.gen == gen {
		for i, r := range rs {
			c.mu.cv.add(r, c.bs)
			if nofile[i] {
				c.mu.cv.file[r.Path] = true
			}
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *recCopier) Invalidate(cause error) {
	c.mu.Lock()
	c.mu.valid = false
	c.mu.invalids = append(c.mu.invalids, cause)
	c.mu.Unlock()
	c.View.Invalidate(cause)
}

type dropHook struct {
	h      cow.ResetHandshake
	onDrop func()
}

func (d dropHook) ResetCopier(ctx context.Context, drop func() error) error {
	return d.h.ResetCopier(ctx, func() error {
		d.onDrop()
		return drop()
	})
}

func (c *recCopier) Reset(ctx context.Context, h cow.ResetHandshake) error {
	err := c.View.Reset(ctx, dropHook{h, func() {
		if c.hang != nil {
			<-c.hang
			c.hang = nil
		}
		c.mu.Lock()
		c.mu.cv = newCoverage()
		c.mu.gen++
		c.mu.valid = false
		c.mu.dropAt = c.rfs.stateCount() - 1
		c.mu.Unlock()
	}})
	if err == nil {
		c.mu.Lock()
		c.mu.valid = true
		c.mu.Unlock()
	}
	return err
}

func (c *recCopier) isValid() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.valid
}

// recFS wraps shared storage for the writer. Before each mutation it checks
// that every copier that serves reads has preserved what the mutation
// touches (invariant 2); after it, it records a snapshot of the shared
// state (for invariant 5).
type recFS struct {
	vfs.FS
	bs      int64
	copiers func() []*recCopier
	mu      struct {
		sync.Mutex
		violations []string
		states     []map[string]string
	}
}

func newRecFS(inner vfs.FS, bs int64) *recFS {
	r := &recFS{FS: inner, bs: bs, copiers: func() []*recCopier { return nil }}
	r.mu.states = []map[string]string{snapshot(inner)}
	return r
}

// snapshot reads every file in the root directory.
func snapshot(fsys vfs.FS) map[string]string {
	names, err := fsys.List(".")
	if err != nil {
		return map[string]string{"!error": err.Error()}
	}
	m := map[string]string{}
	for _, n := range names {
		b, err := vfs.ReadFile(fsys, n)
		if err != nil {
			m[n] = "!error " + err.Error()
			continue
		}
		m[n] = string(b)
	}
	return m
}

func (r *recFS) stateCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.states)
}

func (r *recFS) state(i int) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.states[i]
}

func (r *recFS) violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.mu.violations)
}

func (r *recFS) require(op string, needs ...need) {
	for _, c := range r.copiers() {
		c.mu.Lock()
		if c.mu.valid {
			for _, n := range needs {
				if !c.mu.cv.covers(n, r.bs) {
					r.mu.Lock()
					r.mu.violations = append(r.mu.violations, fmt.Sprintf("invariant 2: %s: copier %s had not preserved %+v", op, c.id, n))
					r.mu.Unlock()
				}
			}
		}
		c.mu.Unlock()
	}
}

func (r *recFS) record() {
	s := snapshot(r.FS)
	r.mu.Lock()
	r.mu.states = append(r.mu.states, s)
	r.mu.Unlock()
}

func (r *recFS) size(name string) (int64, bool) {
	fi, err := r.FS.Stat(name)
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

func (r *recFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	size, exists := r.size(name)
	mut := false
	if flag&os.O_CREATE != 0 && !exists {
		r.require("create "+name, need{kind: cow.KindMeta, path: name})
		mut = true
	}
	if flag&os.O_TRUNC != 0 && exists && size > 0 {
		r.require("truncating open "+name, need{kind: cow.KindFile, path: name, to: size})
		mut = true
	}
	f, err := r.FS.Open(name, flag, perm)
	if mut {
		r.record()
	}
	if err != nil {
		return nil, err
	}
	return &recFile{File: f, r: r, name: name}, nil
}

func (r *recFS) Remove(name string) error {
	if size, exists := r.size(name); exists {
		r.require("remove "+name, need{kind: cow.KindFile, path: name, to: size})
	}
	defer r.record()
	return r.FS.Remove(name)
}

func (r *recFS) Rename(oldname, newname string) error {
	if size, exists := r.size(oldname); exists && oldname != newname {
		r.require("rename "+oldname, need{kind: cow.KindFile, path: oldname, to: size})
		if nsize, exists := r.size(newname); exists {
			r.require("rename over "+newname, need{kind: cow.KindFile, path: newname, to: nsize})
		} else {
			r.require("rename to "+newname, need{kind: cow.KindMeta, path: newname})
		}
	}
	defer r.record()
	return r.FS.Rename(oldname, newname)
}

func (r *recFS) Lock(name string) (io.Closer, error) {
	if _, exists := r.size(name); !exists {
		r.require("lock "+name, need{kind: cow.KindMeta, path: name})
	}
	defer r.record()
	return r.FS.Lock(name)
}

type recFile struct {
	vfs.File
	r    *recFS
	name string
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	size, err := f.File.Size()
	if err != nil || len(p) == 0 {
		return f.File.WriteAt(p, off)
	}
	end := off + int64(len(p))
	var needs []need
	if off < size {
		needs = append(needs, need{kind: cow.KindBlocks, path: f.name, from: off, to: min(end, size)})
	}
	if end > size {
		needs = append(needs, need{kind: cow.KindMeta, path: f.name})
		if size%f.r.bs != 0 {
			needs = append(needs, need{kind: cow.KindBlocks, path: f.name, from: size, to: size + 1})
		}
	}
	f.r.require(fmt.Sprintf("write %s[%d:+%d]", f.name, off, len(p)), needs...)
	defer f.r.record()
	return f.File.WriteAt(p, off)
}

func (f *recFile) Truncate(n int64) error {
	size, err := f.File.Size()
	if err == nil && n != size {
		needs := []need{{kind: cow.KindMeta, path: f.name}}
		if n < size {
			needs = append(needs, need{kind: cow.KindBlocks, path: f.name, from: n, to: size})
		} else if size%f.r.bs != 0 {
			needs = append(needs, need{kind: cow.KindBlocks, path: f.name, from: size, to: size + 1})
		}
		f.r.require(fmt.Sprintf("truncate %s to %d", f.name, n), needs...)
	}
	defer f.r.record()
	return f.File.Truncate(n)
}

// countingStabilizer reports a region stabilized twice within one
// generation of the writer (invariant 3).
type countingStabilizer struct {
	s  cow.Stabilizer
	bs int64
	mu struct {
		sync.Mutex
		seen  *coverage
		twice []cow.Region
		calls int
	}
}

func (c *countingStabilizer) Stabilize(ctx context.Context, regions []cow.Region) error {
	c.mu.Lock()
	c.mu.calls++
	for _, r := range regions {
		n := need{kind: r.Kind, path: r.Path, from: r.Off, to: r.Off + r.Len}
		if r.Kind != cow.KindFile && c.mu.seen.covers(n, c.bs) || r.Kind == cow.KindFile && c.mu.seen.file[r.Path] {
			c.mu.twice = append(c.mu.twice, r)
		}
	}
	c.mu.Unlock()
	err := c.s.Stabilize(ctx, regions)
	if err == nil {
		c.mu.Lock()
		for _, r := range regions {
			c.mu.seen.add(r, c.bs)
		}
		c.mu.Unlock()
	}
	return err
}

func (c *countingStabilizer) newGeneration() {
	c.mu.Lock()
	c.mu.seen = newCoverage()
	c.mu.Unlock()
}

// copierNode is one copier: its view (wrapped), Responder and Mux.
type copierNode struct {
	id   string
	rec  *recCopier
	resp *stability.Responder
	mux  *stability.Mux
}

// cluster is a writer and copiers over one memory FS and a stabilitytest.Network.
type cluster struct {
	t       *testing.T
	bs      int64
	net     *stabilitytest.Network
	raw     *vfs.MemFS
	rfs     *recFS
	writer  *cow.View
	coord   *stability.Coordinator
	counter *countingStabilizer
	quiesce *timedHandshake
	wmux    *stability.Mux
	cfg     stability.Config
	mu      struct {
		sync.Mutex
		copiers  map[string]*copierNode
		excluded []excludeEvent
	}
}

type excludeEvent struct {
	id     string
	epoch  uint64
	at     time.Time
	joined bool // the copier's Responder still held its lease (a violation)
}

const writerID = "w"

func newCluster(t *testing.T, seed uint64, cfg stability.Config, copiers ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, bs: 512, net: stabilitytest.NewNetwork(seed), raw: vfs.NewMem()}
	c.mu.copiers = map[string]*copierNode{}
	c.rfs = newRecFS(c.raw, c.bs)
	c.rfs.copiers = c.recCopiers
	cfg.ID = writerID
	cfg.Transport = c.net.Transport(writerID)
	cfg.OnExclude = c.onExclude
	if os.Getenv("STABILITY_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c.cfg = cfg
	coord, err := stability.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.coord = coord
	c.counter = &countingStabilizer{s: coord, bs: c.bs}
	c.counter.newGeneration()
	w, err := cow.NewWriter(c.rfs, c.counter, cow.Options{BlockSize: int(c.bs)})
	if err != nil {
		t.Fatal(err)
	}
	c.writer = w
	c.quiesce = &timedHandshake{h: dropHook{w, c.counter.newGeneration}}
	coord.SetWriter(c.quiesce)
	c.wmux = &stability.Mux{}
	c.wmux.SetCoordinator(coord)
	c.net.Listen(writerID, c.wmux)
	for _, id := range copiers {
		c.addCopier(id)
	}
	c.setMembership(1, 1)
	t.Cleanup(c.close)
	return c
}

func (c *cluster) addCopier(id string) *copierNode {
	c.t.Helper()
	v, err := cow.NewCopier(c.raw, cow.Options{BlockSize: int(c.bs)})
	if err != nil {
		c.t.Fatal(err)
	}
	rec := &recCopier{View: v, id: id, bs: c.bs, rfs: c.rfs}
	rec.mu.cv = newCoverage()
	resp, err := stability.NewResponder(stability.ResponderConfig{ID: id, View: rec, Transport: c.net.Transport(id), Lease: c.cfg.Lease, Logger: c.cfg.Logger})
	if err != nil {
		c.t.Fatal(err)
	}
	n := &copierNode{id: id, rec: rec, resp: resp, mux: &stability.Mux{}}
	n.mux.SetResponder(resp)
	c.net.Listen(id, n.mux)
	c.mu.Lock()
	c.mu.copiers[id] = n
	c.mu.Unlock()
	return n
}

func (c *cluster) setMembership(epoch, gen uint64) {
	c.t.Helper()
	var peers []stability.Peer
	c.mu.Lock()
	for id := range c.mu.copiers {
		peers = append(peers, stability.Peer{ID: id, Addr: id})
	}
	c.mu.Unlock()
	if err := c.coord.SetCopiers(epoch, gen, peers); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) node(id string) *copierNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.copiers[id]
}

func (c *cluster) recCopiers() []*recCopier {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*recCopier
	for _, n := range c.mu.copiers {
		out = append(out, n.rec)
	}
	return out
}

func (c *cluster) onExclude(id string, epoch uint64) {
	n := c.node(id)
	ev := excludeEvent{id: id, epoch: epoch, at: time.Now()}
	if n != nil {
		ev.joined = n.resp.Joined()
	}
	c.mu.Lock()
	c.mu.excluded = append(c.mu.excluded, ev)
	c.mu.Unlock()
}

func (c *cluster) excludedEvents() []excludeEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mu.excluded)
}

// join runs copier id's reset handshake and, on success, checks that its
// view is exactly the shared state at the moment of its drop (invariant 5).
func (c *cluster) join(ctx context.Context, id string) error {
	n := c.node(id)
	if err := n.resp.Join(ctx, stability.Peer{ID: writerID, Addr: writerID}); err != nil {
		return err
	}
	c.checkView(n, "after join")
	return nil
}

// checkView compares a valid copier's whole view with the shared state at
// its last drop: a prefix of the writer's mutations (5), and unchanged by
// the writer's later mutations (1).
func (c *cluster) checkView(n *copierNode, when string) {
	c.t.Helper()
	n.rec.mu.Lock()
	at := n.rec.mu.dropAt
	n.rec.mu.Unlock()
	want := c.rfs.state(at)
	got := snapshot(n.rec.View)
	if !maps.Equal(got, want) {
		if !n.rec.isValid() || !n.resp.Joined() {
			return // invalidated meanwhile: reads are refused, nothing to compare
		}
		c.t.Errorf("copier %s %s: view %v, want shared state #%d %v", n.id, when, summarize(got), at, summarize(want))
	}
}

func summarize(m map[string]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// checkInvariants reports every recorded violation.
func (c *cluster) checkInvariants() {
	c.t.Helper()
	for _, v := range c.rfs.violations() {
		c.t.Error(v)
	}
	for _, ev := range c.excludedEvents() {
		if ev.joined {
			c.t.Errorf("invariant 7: copier %s excluded at %v while it still held its lease", ev.id, ev.at)
		}
	}
	c.counter.mu.Lock()
	twice := slices.Clone(c.counter.mu.twice)
	c.counter.mu.Unlock()
	for _, r := range twice {
		c.t.Errorf("invariant 3: region %v stabilized twice in one generation", r)
	}
}

func (c *cluster) close() {
	c.checkInvariants()
	if err := c.coord.Check(); err != nil {
		c.t.Error(err)
	}
	c.coord.Close()
	for _, r := range c.recCopiers() {
		n := c.node(r.id)
		if err := n.resp.Check(); err != nil {
			c.t.Error(err)
		}
		n.resp.Close()
	}
	if err := c.writer.Check(); err != nil {
		c.t.Error(err)
	}
}

// seedFile puts name on shared storage as a file that was there before
// the writer started (a database from an earlier run), and records the
// state. Call it before any copier joins and before the writer touches
// name. A file the writer creates itself in the current generation is
// stable as a whole (no copier reads it), so its writes need no round; a
// test that needs rounds for a file's writes writes a seeded one.
func (c *cluster) seedFile(name string, data []byte) {
	c.t.Helper()
	if err := vfs.WriteFile(c.raw, name, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.rfs.record()
}

// writeFile writes data at off through the writer view.
func (c *cluster) writeAt(name string, data []byte, off int64) error {
	f, err := c.writer.Open(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, off)
	return errors.Join(err, f.Close())
}

func readErr(v vfs.FS, name string) error {
	_, err := vfs.ReadFile(v, name)
	return err
}

// timedHandshake records how long each writer quiesce lasted.
type timedHandshake struct {
	h  cow.ResetHandshake
	mu struct {
		sync.Mutex
		durations []time.Duration
	}
}

func (q *timedHandshake) ResetCopier(ctx context.Context, drop func() error) error {
	start := time.Now()
	err := q.h.ResetCopier(ctx, drop)
	q.mu.Lock()
	q.mu.durations = append(q.mu.durations, time.Since(start))
	q.mu.Unlock()
	return err
}

func (q *timedHandshake) last() (time.Duration, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.mu.durations) == 0 {
		return 0, 0
	}
	return q.mu.durations[len(q.mu.durations)-1], len(q.mu.durations)
}
