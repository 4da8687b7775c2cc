package cow

import (
	"context"
	"slices"
	"testing"

	"github.com/holeycow/holeycow/cow/cowtest"
	"github.com/holeycow/holeycow/vfs"
	"pgregory.net/rapid"
)

const modelBS = 512

// modelView is a view under test, its recording FS and its model.
type modelView struct {
	v    *View
	s    *cowtest.Subject
	rec  *recFS
	pres *recPreserver // nil for the writer
}

// modelMachine is the rapid state machine: one writer, 1-3 copiers over
// one Mem, a Direct stabilizer calling each copier's Preserve. The
// operations come from cowtest (shared with package stability's model);
// resets, joins and promotions are the machine's own.
type modelMachine struct {
	raw     *vfs.MemFS
	writer  *modelView
	copiers []*modelView
	stab    *countingStabilizer
	local   *Direct
}

func (m *modelMachine) newRec() *recFS {
	return &recFS{FS: m.raw, raw: m.raw, bs: modelBS, members: m.members}
}

func (m *modelMachine) members() []*recPreserver {
	var out []*recPreserver
	for _, c := range m.copiers {
		out = append(out, c.pres)
	}
	return out
}

func (m *modelMachine) newCopier(t *rapid.T, name string) *modelView {
	rec := m.newRec()
	opts := Options{BlockSize: modelBS}
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
		pres: &recPreserver{v: v, bs: modelBS, cv: newCoverage()},
	}
}

func (m *modelMachine) init(t *rapid.T) {
	m.raw = vfs.NewMem()
	// A random starting namespace, made durable.
	m.writer = &modelView{s: &cowtest.Subject{Name: "writer", M: cowtest.Setup(t, m.raw, modelBS), Durable: true}}
	n := rapid.IntRange(1, 3).Draw(t, "copiers")
	m.local = NewDirect()
	for i := range n {
		c := m.newCopier(t, "copier"+string(rune('1'+i)))
		m.copiers = append(m.copiers, c)
		m.local.Add(c.pres)
	}
	m.stab = &countingStabilizer{s: m.local, bs: modelBS, seen: newCoverage()}
	rec := m.newRec()
	rec.writer = true
	w, err := NewWriter(rec, m.stab, Options{BlockSize: modelBS})
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
// every file's synced content: what ResetCopier and Promote promise.
func (m *modelMachine) checkCrash(t *rapid.T, when string) {
	cowtest.CheckFS(t, "shared after a crash "+when, m.raw.CrashClone(vfs.CrashOptions{}), m.writer.s.M, true)
}

func (m *modelMachine) actions() map[string]func(*rapid.T) {
	acts := cowtest.Actions(m.pick, modelBS)
	acts["reset"] = m.reset
	acts["reset again"] = m.reset // twice as likely as other actions
	acts["join"] = m.join
	acts["promote"] = m.promote
	acts[""] = m.check
	return acts
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
		if len(m.copiers) >= 3 {
			t.Skip("enough copiers")
		}
		var c *modelView
		must(t, m.writer.v.ResetCopier(context.Background(), func() error {
			c = m.newCopier(t, "copier"+string(rune('1'+len(m.copiers))))
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
	// The writer's view is shared storage itself.
	cowtest.CheckFS(t, "shared", m.raw, m.writer.s.M, false)
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
// writer and the copiers, with resets, joins and promotions that keep
// handles and locks open. After every step each view is checked against
// its model, every writer mutation against what each copier had
// preserved, copiers never mutate shared storage, and no region is
// stabilized twice per generation; after every reset, join and promotion,
// a crash clone of shared storage must keep the whole namespace and every
// synced file.
func TestView_model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &modelMachine{}
		m.init(t)
		// Three runs of about rapid.steps actions each: the shapes that
		// matter take several steps (change a directory, rename it,
		// reset; lock, rename, promote).
		acts := m.actions()
		for range 3 {
			t.Repeat(acts)
		}
	})
}
