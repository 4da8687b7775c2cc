package cow

import (
	"context"
	"slices"
	"testing"

	"github.com/holeycow/holeycow/cow/cowtest"
	"github.com/holeycow/holeycow/vfs"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

const modelBS = 512

// modelView is a view under test, its recording FS and its model.
type modelView struct {
	v    *View
	s    *cowtest.Subject
	rec  *recFS
	pres *recPreserver // nil for the writer
	node int           // whose shared storage it sees: modelMachine.sharedOf(node)
}

// modelNodes bounds the views of a model machine: one writer and up to
// three copiers, each on its own node.
const modelNodes = 4

// modelMachine is the rapid state machine: one writer, 1-3 copiers, a
// Direct stabilizer calling each copier's Preserve. Each view sees shared
// storage as its node does (sharedOf): one Mem for all (TestView_model),
// or a mount per node of one GlusterFS volume (TestView_modelGluster).
// The operations come from cowtest (shared with package stability's
// model); resets, joins, restarts and promotions are the machine's own.
type modelMachine struct {
	raw     *vfs.MemFS            // the shared Mem; nil when shared is set
	shared  func(node int) vfs.FS // node's shared storage (nil: raw for every node)
	writer  *modelView
	copiers []*modelView
	stab    *countingStabilizer
	local   *Direct
	// hold is the views' Options.HoldRemoved and HoldResets, drawn once
	// per run: zero-copy removes, or whole-file preservation.
	hold       bool
	holdResets int
}

// sharedOf returns node's shared storage.
func (m *modelMachine) sharedOf(node int) vfs.FS {
	if m.shared == nil {
		return m.raw
	}
	return m.shared(node)
}

// freeNode returns a node that no view uses, or -1.
func (m *modelMachine) freeNode() int {
	used := map[int]bool{m.writer.node: true}
	for _, c := range m.copiers {
		used[c.node] = true
	}
	for i := range modelNodes {
		if !used[i] {
			return i
		}
	}
	return -1
}

func (m *modelMachine) newRec(node int) *recFS {
	fsys := m.sharedOf(node)
	return &recFS{FS: fsys, raw: fsys, bs: modelBS, members: m.members, onMove: func(x, y string) { m.stab.moved(x, y) }}
}

func (m *modelMachine) members() []*recPreserver {
	var out []*recPreserver
	for _, c := range m.copiers {
		out = append(out, c.pres)
	}
	return out
}

func (m *modelMachine) newCopier(t *rapid.T, name string, node int) *modelView {
	rec := m.newRec(node)
	opts := Options{BlockSize: modelBS, HoldRemoved: m.hold, HoldResets: m.holdResets}
	if rapid.Bool().Draw(t, "dir store") {
		st, err := NewDirStore(vfs.NewMem())
		must(t, err)
		opts.Store = st
	}
	v, err := NewCopier(rec, opts)
	must(t, err)
	return &modelView{
		v:    v,
		s:    &cowtest.Subject{Name: name, FS: v, M: m.writer.s.M.Clone()},
		rec:  rec,
		pres: &recPreserver{v: v, shared: rec.raw, bs: modelBS, cv: newCoverage()},
		node: node,
	}
}

func (m *modelMachine) init(t *rapid.T) {
	if m.shared == nil {
		m.raw = vfs.NewMem()
	}
	m.hold = rapid.IntRange(0, 3).Draw(t, "hold removed") > 0
	m.holdResets = rapid.IntRange(0, 2).Draw(t, "hold resets")
	// A random starting namespace, made durable.
	m.writer = &modelView{s: &cowtest.Subject{Name: "writer", M: cowtest.Setup(t, m.sharedOf(0), modelBS), Durable: true}}
	n := rapid.IntRange(1, modelNodes-1).Draw(t, "copiers")
	m.local = NewDirect()
	for i := range n {
		c := m.newCopier(t, "copier"+string(rune('1'+i)), i+1)
		m.copiers = append(m.copiers, c)
		m.local.Add(c.pres)
	}
	m.stab = &countingStabilizer{s: m.local, bs: modelBS, seen: newCoverage()}
	rec := m.newRec(0)
	rec.writer = true
	w, err := NewWriter(rec, m.stab, Options{BlockSize: modelBS, HoldRemoved: m.hold, HoldResets: m.holdResets})
	must(t, err)
	m.writer.v, m.writer.rec, m.writer.s.FS = w, rec, w
}

// pick chooses the writer (half the time) or a copier.
func (m *modelMachine) pick(t *rapid.T) *cowtest.Subject {
	if rapid.Bool().Draw(t, "at writer") {
		return m.writer.s
	}
	return rapid.SampledFrom(m.copiers).Draw(t, "copier").s
}

// checkCrash checks that a crash now keeps the writer's namespace and
// every file's synced content: what ResetCopier and Promote promise. Only
// the Mem has crash clones: on real mounts it checks nothing.
func (m *modelMachine) checkCrash(t *rapid.T, when string) {
	if m.raw == nil {
		return
	}
	cowtest.CheckFS(t, "shared after a crash "+when, m.raw.CrashClone(vfs.CrashOptions{}), m.writer.s.M, true)
}

func (m *modelMachine) actions() map[string]func(*rapid.T) {
	acts := cowtest.Actions(m.pick, modelBS)
	acts["reset"] = m.reset
	acts["reset again"] = m.reset // twice as likely as other actions
	acts["join"] = m.join
	acts["restart"] = m.restart
	acts["overwrite"] = m.overwrite
	acts["recycle"] = m.recycle
	acts["promote"] = m.promote
	acts["collect held"] = m.collect
	acts[""] = m.check
	return acts
}

// collect collects held files at the writer: those due, or all (every
// copier still reading one copies it first).
func (m *modelMachine) collect(t *rapid.T) {
	all := rapid.Bool().Draw(t, "all")
	before := m.writer.v.Stats().HeldFiles
	k, err := m.writer.v.CollectHeld(context.Background(), all)
	must(t, err)
	if after := m.writer.v.Stats().HeldFiles; after != before-k || (all && after != 0) {
		t.Fatalf("CollectHeld(all=%v) = %d: held files %d -> %d", all, k, before, after)
	}
}

func (m *modelMachine) reset(t *rapid.T) {
	{
		c := rapid.SampledFrom(m.copiers).Draw(t, "copier")
		// Its handles and locks stay open across the reset.
		must(t, c.v.Reset(context.Background(), m.writer.v))
		m.writer.s.SyncOpen()
		c.s.Reset(m.writer.s.M)
		c.pres.reset()
		m.stab.newGeneration()
		m.checkCrash(t, "after a reset")
	}
}

func (m *modelMachine) join(t *rapid.T) {
	{
		node := m.freeNode()
		if node < 0 {
			t.Skip("enough copiers")
		}
		var c *modelView
		must(t, m.writer.v.ResetCopier(context.Background(), func() error {
			c = m.newCopier(t, "copier"+string(rune('1'+len(m.copiers))), node)
			m.local.Add(c.pres)
			return nil
		}))
		m.writer.s.SyncOpen()
		c.s.M = m.writer.s.M.Clone()
		m.copiers = append(m.copiers, c)
		m.stab.newGeneration()
		m.checkCrash(t, "after a join")
	}
}

// restart discards a copier (its handles and locks closed, as a process
// that exits) and joins a new one on the same node: on a mount, the
// kernel's cache of the old one's reads outlives it.
func (m *modelMachine) restart(t *rapid.T) {
	i := rapid.IntRange(0, len(m.copiers)-1).Draw(t, "copier")
	old := m.copiers[i]
	old.s.CloseAll(t)
	m.local.Remove(old.pres)
	var c *modelView
	must(t, m.writer.v.ResetCopier(context.Background(), func() error {
		c = m.newCopier(t, old.s.Name, old.node)
		m.local.Add(c.pres)
		return nil
	}))
	m.writer.s.SyncOpen()
	c.s.M = m.writer.s.M.Clone()
	m.copiers = slices.Clone(m.copiers)
	m.copiers[i] = c
	m.stab.newGeneration()
	m.checkCrash(t, "after a restart")
}

// overwrite rewrites part of a file at the writer in place, its size
// unchanged: the writer's change that a copier's mount does not notice
// by itself (a size change makes FUSE drop a file's cached pages).
func (m *modelMachine) overwrite(t *rapid.T) {
	var files []string
	sizes := map[string]int64{}
	for _, p := range cowtest.Paths {
		if fi, err := m.writer.s.FS.Stat(p); err == nil && !fi.IsDir() && fi.Size() > 0 {
			files = append(files, p)
			sizes[p] = fi.Size()
		}
	}
	if len(files) == 0 {
		t.Skip("no file to overwrite")
	}
	p := rapid.SampledFrom(files).Draw(t, "path")
	off := rapid.Int64Range(0, sizes[p]-1).Draw(t, "off")
	data := make([]byte, rapid.Int64Range(1, sizes[p]-off).Draw(t, "len"))
	seed := rapid.Byte().Draw(t, "data seed")
	for i := range data {
		data[i] = seed + byte(i*5) | 1
	}
	m.writer.s.Write(t, p, off, data)
}

// recycle renames a file at the writer and overwrites it at its new
// name, as an LSM engine recycles an old log as its next one: the shape
// where copiers follow the renamed file and must preserve what the
// writer then overwrites (zero-copy renames).
func (m *modelMachine) recycle(t *rapid.T) {
	var files []string
	for _, p := range cowtest.Paths {
		if fi, err := m.writer.s.FS.Stat(p); err == nil && !fi.IsDir() && fi.Size() > 0 {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		t.Skip("no file to recycle")
	}
	p := rapid.SampledFrom(files).Draw(t, "from")
	q := rapid.SampledFrom(cowtest.Paths).Draw(t, "to")
	m.writer.s.Rename(t, p, q)
	fi, err := m.writer.s.FS.Stat(q)
	if err != nil || fi.IsDir() || fi.Size() == 0 {
		return // the rename failed, as the model expected
	}
	size := fi.Size()
	off := rapid.Int64Range(0, size-1).Draw(t, "off")
	data := make([]byte, rapid.Int64Range(1, size-off+modelBS).Draw(t, "len"))
	seed := rapid.Byte().Draw(t, "data seed")
	for i := range data {
		data[i] = seed + byte(i*3) | 1
	}
	m.writer.s.Write(t, q, off, data)
}

// closeAll closes every view's handles and locks (the end of a run).
func (m *modelMachine) closeAll(t *rapid.T) {
	for _, mv := range append([]*modelView{m.writer}, m.copiers...) {
		mv.s.CloseAll(t)
	}
}

func (m *modelMachine) promote(t *rapid.T) {
	{
		if len(m.copiers) < 2 {
			t.Skip("keep one copier")
		}
		i := rapid.IntRange(0, len(m.copiers)-1).Draw(t, "copier")
		c := m.copiers[i]
		// The old writer is discarded (fenced): shared storage is the
		// copier's from now on. Its open files and locks go with it.
		m.writer.s.CloseAll(t)
		m.copiers = slices.Delete(slices.Clone(m.copiers), i, i+1)
		m.local = NewDirect()
		for _, o := range m.copiers {
			m.local.Add(o.pres)
		}
		m.stab = &countingStabilizer{s: m.local, bs: modelBS, seen: newCoverage()}
		m.writer.rec.mu.Lock()
		m.writer.rec.writer = false
		m.writer.rec.mu.Unlock()
		c.rec.mu.Lock()
		c.rec.writer = true
		c.rec.mu.Unlock()
		must(t, c.v.Promote(context.Background(), m.stab))
		if c.v.Role() != RoleWriter {
			t.Fatalf("Role after Promote = %v", c.v.Role())
		}
		c.s.Promote()
		c.s.Name = "writer (was " + c.s.Name + ")"
		c.pres = nil
		m.writer = c
		m.checkCrash(t, "after a promotion")
	}
}

// check compares every view with its model after each step.
func (m *modelMachine) check(t *rapid.T) {
	for _, mv := range append([]*modelView{m.writer}, m.copiers...) {
		for _, v := range mv.rec.takeViolations() {
			t.Errorf("%s: %s", mv.s.Name, v)
		}
		mv.s.Check(t)
		if err := mv.v.Check(); err != nil {
			t.Fatalf("%s Check: %v", mv.s.Name, err)
		}
	}
	// The writer's view is shared storage itself (as its node sees it).
	cowtest.CheckFS(t, "shared", m.sharedOf(m.writer.node), m.writer.s.M, false)
	m.stab.mu.Lock()
	twice := m.stab.twice
	m.stab.twice = nil
	m.stab.mu.Unlock()
	if len(twice) > 0 {
		t.Fatalf("regions stabilized twice in one generation (invariant 3): %v", twice)
	}
}

// TestView_model is the model-based test of invariants 1 to 6: random
// operations (cowtest's: writes by name and through long-lived handles,
// truncates, creates, removes, renames of files and of directories with
// children, MkdirAll, locks, syncs, and their failing variants) at the
// writer and the copiers, with resets, joins, restarts and promotions
// (resets and promotions keep handles and locks open). After every step
// each view is checked against its model, every writer mutation against
// what each copier had preserved, copiers never mutate shared storage,
// and no region is stabilized twice per generation; after every reset,
// join, restart and promotion, a crash clone of shared storage must keep
// the whole namespace and every synced file. TestView_modelGluster runs
// the same machine on real mounts.
func TestView_model(t *testing.T) {
	var followed, preserved int
	rapid.Check(t, func(t *rapid.T) {
		m := &modelMachine{}
		m.init(t)
		// Three runs of about rapid.steps actions each: the shapes that
		// matter take several steps (change a directory, rename it,
		// reset; lock, rename, promote).
		acts := m.actions()
		acts[""] = func(t *rapid.T) {
			m.check(t)
			for _, c := range m.copiers {
				followed += c.v.Stats().FollowedFiles
			}
		}
		for range 3 {
			t.Repeat(acts)
		}
		for _, c := range append([]*modelView{m.writer}, m.copiers...) {
			preserved += int(c.v.followerPreserves.Load())
		}
	})
	// Zero-copy renames ran: copiers followed renamed files, and regions
	// named where those files went reached them.
	t.Logf("copiers followed renamed files in %d checks; %d regions reached followers", followed, preserved)
	if !t.Failed() {
		require.Positive(t, followed, "no copier ever followed a renamed file")
		require.Positive(t, preserved, "no region ever reached a copier following a renamed file")
	}
}
