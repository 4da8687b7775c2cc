package cow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"pgregory.net/rapid"
)

const modelBS = 512

// modelPaths are the files the model test uses. Directory "d" always
// exists; directories "e" and "f" come and go (and are renamed).
var modelPaths = []string{"a", "b", "c", "d/x", "d/y", "e/z", "e/w", "f/z"}

// mfile is a file of a model: an inode, so that open handles follow
// renames and outlive removals.
type mfile struct{ data []byte }

// modelView is a view under test and its model.
type modelView struct {
	v     *View
	rec   *recFS
	pres  *recPreserver // nil for the writer
	files map[string]*mfile
	dirs  map[string]bool // "e" and "f"
	h     vfs.File        // one long-lived handle, or nil
	hf    *mfile          // the model file h is open on
}

func (mv *modelView) clone() (map[string]*mfile, map[string]bool) {
	out := make(map[string]*mfile, len(mv.files))
	for p, f := range mv.files {
		out[p] = &mfile{data: slices.Clone(f.data)}
	}
	return out, maps.Clone(mv.dirs)
}

func (mv *modelView) parentOK(p string) bool {
	d := vfs.Dir(p)
	return d == "." || d == "d" || mv.dirs[d]
}

// under lists the model's files in directory d.
func (mv *modelView) under(d string) []string {
	var out []string
	for p := range mv.files {
		if vfs.Dir(p) == d {
			out = append(out, p)
		}
	}
	return out
}

func (mv *modelView) closeHandle(t *rapid.T) {
	if mv.h != nil {
		must(t, mv.h.Close())
		mv.h, mv.hf = nil, nil
	}
}

// modelMachine is the rapid state machine: one writer, 1-3 copiers over
// one Mem, a Local stabilizer calling each copier's Preserve.
type modelMachine struct {
	raw     *vfs.MemFS
	writer  *modelView
	copiers []*modelView
	stab    *countingStabilizer
	local   *Local
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

func (m *modelMachine) newCopier(t *rapid.T) *modelView {
	rec := m.newRec()
	opts := Options{BlockSize: modelBS}
	if rapid.Bool().Draw(t, "dir store") {
		st, err := NewDirStore(vfs.NewMem())
		must(t, err)
		opts.Store = st
	}
	v, err := NewCopier(rec, opts)
	must(t, err)
	mv := &modelView{v: v, rec: rec, pres: &recPreserver{v: v, bs: modelBS, cv: newCoverage()}}
	mv.files, mv.dirs = m.writer.clone()
	return mv
}

func (m *modelMachine) init(t *rapid.T) {
	m.raw = vfs.NewMem()
	must(t, m.raw.MkdirAll("d", 0o755))
	m.writer = &modelView{files: map[string]*mfile{}, dirs: map[string]bool{}}
	if rapid.Bool().Draw(t, "e exists") {
		must(t, m.raw.MkdirAll("e", 0o755))
		m.writer.dirs["e"] = true
	}
	for _, p := range modelPaths {
		if m.writer.parentOK(p) && rapid.Bool().Draw(t, "prepopulate "+p) {
			data := randBytes(t, "content "+p, 3000)
			must(t, vfs.WriteFile(m.raw, p, data, 0o644))
			m.writer.files[p] = &mfile{data: data}
		}
	}
	n := rapid.IntRange(1, 3).Draw(t, "copiers")
	m.local = NewLocal()
	for range n {
		c := m.newCopier(t)
		m.copiers = append(m.copiers, c)
		m.local.Add(c.pres)
	}
	m.stab = &countingStabilizer{s: m.local, bs: modelBS, seen: newCoverage()}
	rec := m.newRec()
	rec.writer = true
	w, err := NewWriter(rec, m.stab, Options{BlockSize: modelBS})
	must(t, err)
	m.writer.v, m.writer.rec = w, rec
}

func randBytes(t *rapid.T, label string, max int) []byte {
	n := rapid.IntRange(0, max).Draw(t, label+" len")
	seed := rapid.Byte().Draw(t, label+" seed")
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) | 1 // never zero
	}
	return b
}

// pick chooses the writer or a copier.
func (m *modelMachine) pick(t *rapid.T) *modelView {
	i := rapid.IntRange(-1, len(m.copiers)-1).Draw(t, "view")
	if i < 0 {
		return m.writer
	}
	return m.copiers[i]
}

func drawOff(t *rapid.T) int64 {
	if rapid.Bool().Draw(t, "aligned") {
		return int64(rapid.IntRange(0, 8).Draw(t, "block")) * modelBS
	}
	return int64(rapid.IntRange(0, 4000).Draw(t, "off"))
}

func (f *mfile) writeAt(data []byte, off int64) {
	if len(data) == 0 {
		return
	}
	if end := off + int64(len(data)); int64(len(f.data)) < end {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[off:], data)
}

func (f *mfile) truncate(n int64) {
	if int64(len(f.data)) >= n {
		f.data = f.data[:n]
	} else {
		f.data = append(f.data, make([]byte, n-int64(len(f.data)))...)
	}
}

func wantErr(t *rapid.T, err error, target error, what string) {
	if !errors.Is(err, target) {
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}

func (m *modelMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"write": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			off, data := drawOff(t), randBytes(t, "data", 1500)
			f, err := mv.v.Open(p, os.O_RDWR|os.O_CREATE, 0o644)
			if !mv.parentOK(p) {
				wantErr(t, err, fs.ErrNotExist, "Open(O_CREATE) in a missing directory")
				return
			}
			must(t, err)
			n, err := f.WriteAt(data, off)
			must(t, err)
			if n != len(data) {
				t.Fatalf("WriteAt wrote %d of %d", n, len(data))
			}
			must(t, f.Close())
			if mv.files[p] == nil {
				mv.files[p] = &mfile{data: []byte{}}
			}
			mv.files[p].writeAt(data, off)
		},
		"truncate": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			if mv.files[p] == nil {
				t.Skip("no such file")
			}
			n := int64(rapid.IntRange(0, 5000).Draw(t, "size"))
			f, err := mv.v.Open(p, os.O_RDWR, 0)
			must(t, err)
			must(t, f.Truncate(n))
			must(t, f.Close())
			mv.files[p].truncate(n)
		},
		"create": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			f, err := mv.v.Open(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if !mv.parentOK(p) {
				wantErr(t, err, fs.ErrNotExist, "Open(O_CREATE) in a missing directory")
				return
			}
			must(t, err)
			must(t, f.Close())
			if mf := mv.files[p]; mf != nil {
				mf.truncate(0) // the same file, truncated
			} else {
				mv.files[p] = &mfile{data: []byte{}}
			}
		},
		"remove": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			err := mv.v.Remove(p)
			if mv.files[p] == nil {
				wantErr(t, err, fs.ErrNotExist, "Remove of a missing file")
				return
			}
			must(t, err)
			delete(mv.files, p)
		},
		"rename": func(t *rapid.T) {
			mv := m.pick(t)
			a := rapid.SampledFrom(modelPaths).Draw(t, "from")
			b := rapid.SampledFrom(modelPaths).Draw(t, "to")
			if mv.files[a] == nil {
				t.Skip("no such file")
			}
			err := mv.v.Rename(a, b)
			if !mv.parentOK(b) {
				wantErr(t, err, fs.ErrNotExist, "Rename into a missing directory")
				return
			}
			must(t, err)
			if a != b {
				mv.files[b] = mv.files[a]
				delete(mv.files, a)
			}
		},
		"mkdir": func(t *rapid.T) {
			mv := m.pick(t)
			d := rapid.SampledFrom([]string{"e", "f"}).Draw(t, "dir")
			must(t, mv.v.MkdirAll(d, 0o755))
			mv.dirs[d] = true
		},
		"rmdir": func(t *rapid.T) {
			mv := m.pick(t)
			d := rapid.SampledFrom([]string{"e", "f"}).Draw(t, "dir")
			err := mv.v.Remove(d)
			switch {
			case !mv.dirs[d]:
				wantErr(t, err, fs.ErrNotExist, "Remove of a missing directory")
			case len(mv.under(d)) > 0:
				wantErr(t, err, vfs.ErrNotEmpty, "Remove of a non-empty directory")
			default:
				must(t, err)
				delete(mv.dirs, d)
			}
		},
		"renamedir": func(t *rapid.T) {
			mv := m.pick(t)
			from := rapid.SampledFrom([]string{"e", "f"}).Draw(t, "dir")
			to := map[string]string{"e": "f", "f": "e"}[from]
			if !mv.dirs[from] || mv.dirs[to] {
				t.Skip("needs an existing source and a missing target")
			}
			must(t, mv.v.Rename(from, to))
			for _, p := range mv.under(from) {
				mv.files[to+p[1:]] = mv.files[p]
				delete(mv.files, p)
			}
			delete(mv.dirs, from)
			mv.dirs[to] = true
		},
		"hopen": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			if mv.files[p] == nil {
				t.Skip("no such file")
			}
			mv.closeHandle(t)
			h, err := mv.v.Open(p, os.O_RDWR, 0)
			must(t, err)
			mv.h, mv.hf = h, mv.files[p]
		},
		"hwrite": func(t *rapid.T) {
			mv := m.pick(t)
			if mv.h == nil {
				t.Skip("no handle")
			}
			off, data := drawOff(t), randBytes(t, "data", 1500)
			_, err := mv.h.WriteAt(data, off)
			must(t, err)
			mv.hf.writeAt(data, off)
		},
		"htruncate": func(t *rapid.T) {
			mv := m.pick(t)
			if mv.h == nil {
				t.Skip("no handle")
			}
			n := int64(rapid.IntRange(0, 5000).Draw(t, "size"))
			must(t, mv.h.Truncate(n))
			mv.hf.truncate(n)
		},
		"hclose": func(t *rapid.T) {
			m.pick(t).closeHandle(t)
		},
		"sync": func(t *rapid.T) {
			mv := m.pick(t)
			p := rapid.SampledFrom(modelPaths).Draw(t, "path")
			if mv.files[p] != nil {
				f, err := mv.v.Open(p, os.O_RDWR, 0)
				must(t, err)
				must(t, f.Sync())
				must(t, f.Close())
			}
			must(t, mv.v.SyncDir("d"))
		},
		"reset": func(t *rapid.T) {
			i := rapid.IntRange(0, len(m.copiers)-1).Draw(t, "copier")
			c := m.copiers[i]
			c.closeHandle(t)
			must(t, c.v.Reset(context.Background(), m.writer.v))
			c.files, c.dirs = m.writer.clone()
			c.pres.reset()
			m.stab.newGeneration()
		},
		"join": func(t *rapid.T) {
			if len(m.copiers) >= 3 {
				t.Skip("enough copiers")
			}
			var c *modelView
			must(t, m.writer.v.ResetCopier(context.Background(), func() error {
				c = m.newCopier(t)
				m.local.Add(c.pres)
				return nil
			}))
			m.copiers = append(m.copiers, c)
			m.stab.newGeneration()
		},
		"promote": func(t *rapid.T) {
			if len(m.copiers) < 2 {
				t.Skip("keep one copier")
			}
			i := rapid.IntRange(0, len(m.copiers)-1).Draw(t, "copier")
			c := m.copiers[i]
			// The old writer is discarded (fenced): shared storage is
			// the copier's from now on. Its open file goes with it.
			m.writer.closeHandle(t)
			m.copiers = slices.Delete(slices.Clone(m.copiers), i, i+1)
			m.local = NewLocal()
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
			c.pres = nil
			m.writer = c
			// Shared storage is synced: a crash keeps the view.
			checkView(t, m.raw.CrashClone(vfs.CrashOptions{}), c, "shared after a crash")
		},
	}
}

// check compares every view with its model, byte for byte.
func (m *modelMachine) check(t *rapid.T) {
	for _, mv := range append([]*modelView{m.writer}, m.copiers...) {
		for _, v := range mv.rec.takeViolations() {
			t.Errorf("%v: %s", mv.v.Role(), v)
		}
		checkView(t, mv.v, mv, mv.v.Role().String())
		if mv.h != nil {
			checkHandle(t, mv)
		}
		if err := mv.v.Check(); err != nil {
			t.Fatalf("%v Check: %v", mv.v.Role(), err)
		}
	}
	// The writer's view is shared storage itself.
	checkView(t, m.raw, m.writer, "shared")
	m.stab.mu.Lock()
	twice := m.stab.twice
	m.stab.twice = nil
	m.stab.mu.Unlock()
	if len(twice) > 0 {
		t.Fatalf("regions stabilized twice in one generation (invariant 3): %v", twice)
	}
}

func checkHandle(t *rapid.T, mv *modelView) {
	size, err := mv.h.Size()
	must(t, err)
	if size != int64(len(mv.hf.data)) {
		t.Fatalf("%v: handle Size() = %d, want %d", mv.v.Role(), size, len(mv.hf.data))
	}
	buf := make([]byte, len(mv.hf.data)+10)
	n, err := mv.h.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%v: handle ReadAt: %v", mv.v.Role(), err)
	}
	if !bytes.Equal(buf[:n], mv.hf.data) {
		t.Fatalf("%v: handle content differs from the model (first difference at %d)", mv.v.Role(), firstDiff(buf[:n], mv.hf.data))
	}
}

func checkView(t *rapid.T, fsys vfs.FS, mv *modelView, name string) {
	for _, p := range modelPaths {
		mf := mv.files[p]
		fi, err := fsys.Stat(p)
		if mf == nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: Stat(%q) = %v, %v; want ErrNotExist", name, p, fi, err)
			}
			continue
		}
		want := mf.data
		if err != nil {
			t.Fatalf("%s: Stat(%q): %v", name, p, err)
		}
		if fi.Size() != int64(len(want)) {
			t.Fatalf("%s: Stat(%q).Size() = %d, want %d", name, p, fi.Size(), len(want))
		}
		got, err := vfs.ReadFile(fsys, p)
		if err != nil {
			t.Fatalf("%s: ReadFile(%q): %v", name, p, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: content of %q differs from the model (len %d vs %d, first difference at %d)", name, p, len(got), len(want), firstDiff(got, want))
		}
		// A read straddling the end of file.
		f, err := fsys.Open(p, os.O_RDONLY, 0)
		if err != nil {
			t.Fatalf("%s: Open(%q): %v", name, p, err)
		}
		buf := make([]byte, 700)
		off := max(0, int64(len(want))-300)
		n, _ := f.ReadAt(buf, off)
		if !bytes.Equal(buf[:n], want[off:]) {
			t.Fatalf("%s: ReadAt(%q, %d) = %d bytes, not the model's", name, p, off, n)
		}
		f.Close()
	}
	for _, dir := range []string{".", "d", "e", "f"} {
		got, err := fsys.List(dir)
		if (dir == "e" || dir == "f") && !mv.dirs[dir] {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: List(%s) of a missing directory: %v", name, dir, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: List(%q): %v", name, dir, err)
		}
		var want []string
		if dir == "." {
			want = append(want, "d")
			for d := range mv.dirs {
				want = append(want, d)
			}
		}
		for p := range mv.files {
			if vfs.Dir(p) == dir {
				want = append(want, path.Base(p))
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: List(%q) = %q, want %q", name, dir, got, want)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestView_model is the model-based test of invariants 1 to 6: random
// operations at the writer and the copiers (through short-lived and
// long-lived files), each view checked against its model after every step,
// every writer mutation checked against what each copier had preserved,
// copiers never mutating shared storage, and no region stabilized twice
// per generation.
func TestView_model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &modelMachine{}
		m.init(t)
		actions := m.actions()
		actions[""] = m.check
		t.Repeat(actions)
	})
}
