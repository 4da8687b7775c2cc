package cow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/holeycow/holeycow/vfs"
)

// coverage records regions received by a copier (or passed to a
// Stabilizer) in one generation.
type coverage struct {
	meta   map[string]bool
	file   map[string]bool
	blocks map[string]map[int64]bool
	hold   map[string]map[int64]bool  // KindHold: path to held numbers
	move   map[string]map[string]bool // KindMove: path to destinations
}

func newCoverage() *coverage {
	return &coverage{meta: map[string]bool{}, file: map[string]bool{}, blocks: map[string]map[int64]bool{}, hold: map[string]map[int64]bool{}, move: map[string]map[string]bool{}}
}

// moved transfers what was covered at x to y once the file at x was
// renamed to y: a copier that took x whole reads nothing of it, one that
// was told of the move follows it and has preserved at y what it had
// preserved at x. Nothing at x reads shared storage any more.
func (c *coverage) moved(x, y string) {
	switch {
	case c.file[x]:
		c.file[y] = true
	case c.move[x][y]:
		c.file[y] = false
		c.blocks[y] = c.blocks[x]
	}
	c.meta[y] = true
	delete(c.move, y)
	delete(c.hold, y)
	c.file[x] = true
	delete(c.blocks, x)
}

func (c *coverage) add(r Region, bs int64) {
	switch r.Kind {
	case KindMove:
		if c.move[r.Path] == nil {
			c.move[r.Path] = map[string]bool{}
		}
		c.move[r.Path][r.To] = true
	case KindHold:
		if c.hold[r.Path] == nil {
			c.hold[r.Path] = map[int64]bool{}
		}
		c.hold[r.Path][r.Off] = true
	case KindMeta:
		c.meta[r.Path] = true
	case KindFile:
		c.file[r.Path] = true
	case KindBlocks:
		if c.blocks[r.Path] == nil {
			c.blocks[r.Path] = map[int64]bool{}
		}
		for idx := r.Off / bs; idx*bs < r.Off+r.Len; idx++ {
			c.blocks[r.Path][idx] = true
		}
	}
}

// covers reports whether r is wholly covered.
func (c *coverage) covers(r Region, bs int64) bool {
	if c.file[r.Path] {
		return true
	}
	switch r.Kind {
	case KindMeta:
		return c.meta[r.Path]
	case KindHold:
		return c.hold[r.Path][r.Off]
	case KindMove:
		return c.move[r.Path][r.To]
	case KindRelease:
		return false // once per held file
	case KindBlocks:
		for idx := r.Off / bs; idx*bs < r.Off+r.Len; idx++ {
			if !c.blocks[r.Path][idx] {
				return false
			}
		}
		return true
	}
	return false
}

// recPreserver wraps a copier and records the regions its Preserve
// received in the current generation.
//
// A region received for a path that shared storage (as the copier sees
// it) holds no file at, nothing or a directory, covers that path as a
// whole: the copier now sees its own entry there (an absence, or a
// directory), so no later file at that path on shared storage can reach
// its reads until it resets. This is what lets the writer skip rounds for
// a file it creates where copiers preserved the absence.
type recPreserver struct {
	v      *View
	shared vfs.FS // shared storage as the copier sees it
	bs     int64
	mu     sync.Mutex
	cv     *coverage
}

func (p *recPreserver) Preserve(ctx context.Context, regions []Region) error {
	nofile := make([]bool, len(regions))
	for i, r := range regions {
		fi, err := p.shared.Stat(r.Path)
		nofile[i] = errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) || (err == nil && fi.IsDir())
	}
	if err := p.v.Preserve(ctx, regions); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range regions {
		p.cv.add(r, p.bs)
		if nofile[i] {
			p.cv.file[r.Path] = true
		}
	}
	return nil
}

func (p *recPreserver) reset() {
	p.mu.Lock()
	p.cv = newCoverage()
	p.mu.Unlock()
}

// countingStabilizer wraps a Stabilizer and reports a region stabilized
// twice within one generation of the writer (invariant 3).
type countingStabilizer struct {
	s     Stabilizer
	bs    int64
	mu    sync.Mutex
	seen  *coverage
	twice []Region
	calls int
}

func (c *countingStabilizer) Stabilize(ctx context.Context, regions []Region) error {
	c.mu.Lock()
	c.calls++
	for _, r := range regions {
		if c.seen.covers(r, c.bs) {
			c.twice = append(c.twice, r)
		}
		c.seen.add(r, c.bs)
	}
	c.mu.Unlock()
	return c.s.Stabilize(ctx, regions)
}

// moved moves what was asked at x to y, the file there renamed
// (coverage.moved): the file at y is another one, asked for anew.
func (c *countingStabilizer) moved(x, y string) {
	c.mu.Lock()
	c.seen.moved(x, y)
	c.mu.Unlock()
}

func (c *countingStabilizer) newGeneration() {
	c.mu.Lock()
	c.seen = newCoverage()
	c.mu.Unlock()
}

// recFS wraps shared storage for one view. While the view is a copier
// (writer false), any mutation is a violation of invariant 4. While it is
// the writer, each mutation is checked against what every copier in
// members has received through Preserve (invariant 2).
type recFS struct {
	vfs.FS
	raw vfs.FS
	bs  int64
	mu  sync.Mutex
	// writer and members are set by the test between operations.
	writer     bool
	members    func() []*recPreserver
	violations []string
	open       map[*recFile]struct{} // their names follow renames
	// onMove, if set, is told of each file renamed from x to y.
	onMove func(x, y string)
}

func (r *recFS) violate(format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recFS) takeViolations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.violations
	r.violations = nil
	return v
}

// require checks that every member covers every region.
func (r *recFS) require(op string, regions ...Region) {
	r.mu.Lock()
	writer, members := r.writer, r.members
	r.mu.Unlock()
	if !writer {
		r.violate("copier mutated shared storage: %s %v", op, regions)
		return
	}
	for _, m := range members() {
		m.mu.Lock()
		for _, reg := range regions {
			if !m.cv.covers(reg, r.bs) {
				r.violate("%s mutated %v before a copier preserved it", op, reg)
			}
		}
		m.mu.Unlock()
	}
}

// size returns the size of the file at name (0 for a directory, whose
// size a real file system reports as a block or more), and whether
// anything exists there.
func (r *recFS) size(name string) (int64, bool) {
	fi, err := r.raw.Stat(name)
	if err != nil {
		return 0, false
	}
	if fi.IsDir() {
		return 0, true
	}
	return fi.Size(), true
}

func (r *recFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	size, exists := r.size(name)
	if flag&os.O_CREATE != 0 && !exists {
		r.require("create "+name, Region{Kind: KindMeta, Path: name})
	}
	if flag&os.O_TRUNC != 0 && exists && size > 0 {
		r.require("open O_TRUNC "+name, Region{Kind: KindMeta, Path: name}, blockRegion(name, 0, size, r.bs))
	}
	f, err := r.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	rf := &recFile{File: f, r: r, name: name}
	r.mu.Lock()
	if r.open == nil {
		r.open = map[*recFile]struct{}{}
	}
	r.open[rf] = struct{}{}
	r.mu.Unlock()
	return rf, nil
}

// moved updates the names of open files after a rename or removal.
func (r *recFS) moved(oldname, newname string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for f := range r.open {
		switch {
		case newname != "" && f.name == newname:
			f.name = "" // replaced: no copier can see it any more
		case f.name == oldname:
			f.name = newname
		case strings.HasPrefix(f.name, oldname+"/"):
			if newname == "" {
				f.name = ""
			} else {
				f.name = newname + f.name[len(oldname):]
			}
		}
	}
}

// requireUnread checks that no member copier reads the held file at
// name, which the writer deletes: garbage collection must not take a file
// that a copier generation can still see.
func (r *recFS) requireUnread(name string) {
	r.mu.Lock()
	writer, members := r.writer, r.members
	r.mu.Unlock()
	if !writer {
		r.violate("copier mutated shared storage: remove %s", name)
		return
	}
	for _, m := range members() {
		if m.v.readsHeld(name) {
			r.violate("remove %s: a copier still reads the held file", name)
		}
	}
}

func (r *recFS) Remove(name string) error {
	if reserved(name) {
		r.requireUnread(name)
		return r.FS.Remove(name)
	}
	if fi, err := r.raw.Stat(name); err == nil {
		if fi.IsDir() {
			r.require("remove "+name, Region{Kind: KindMeta, Path: name})
		} else {
			r.require("remove "+name, Region{Kind: KindFile, Path: name})
		}
	}
	if err := r.FS.Remove(name); err != nil {
		return err
	}
	r.moved(name, "")
	return nil
}

func (r *recFS) Rename(oldname, newname string) error {
	if n, ok := heldNumber(strings.TrimPrefix(newname, HoldDir+"/")); ok && reserved(newname) {
		// A hold: every copier must have been told the number, or hold
		// the file's path as its own.
		r.require("hold "+oldname, Region{Kind: KindHold, Path: oldname, Off: n})
		if err := r.FS.Rename(oldname, newname); err != nil {
			return err
		}
		r.moved(oldname, "")
		// Moved: each copier holds its own entry at oldname (a node
		// reading the held file, or an absence) and never reads a file
		// there again, as if it had preserved the whole path.
		r.mu.Lock()
		members := r.members
		r.mu.Unlock()
		for _, m := range members() {
			m.mu.Lock()
			if m.cv.hold[oldname][n] {
				m.cv.file[oldname] = true
			}
			m.mu.Unlock()
		}
		return nil
	}
	if _, exists := r.size(oldname); exists && oldname != newname {
		// Everything that disappears, and everything that appears.
		r.requireTree("rename "+oldname, oldname, newname)
		if _, exists := r.size(newname); exists {
			r.requireTree("rename onto "+newname, newname, "")
		} else {
			r.require("rename onto "+newname, Region{Kind: KindMeta, Path: newname})
		}
	}
	if err := r.FS.Rename(oldname, newname); err != nil {
		return err
	}
	if oldname != newname {
		r.moved(oldname, newname)
		r.transfer(oldname, newname, newname)
	}
	return nil
}

// transfer moves each member's coverage of the files renamed from oldname
// to newname (p is one of them, or a directory of them, at its new path).
func (r *recFS) transfer(oldname, newname, p string) {
	fi, err := r.raw.Stat(p)
	if err != nil {
		return
	}
	if fi.IsDir() {
		names, _ := r.raw.List(p)
		for _, n := range names {
			r.transfer(oldname, newname, p+"/"+n)
		}
		return
	}
	r.mu.Lock()
	members := r.members
	r.mu.Unlock()
	x := oldname + p[len(newname):]
	for _, m := range members() {
		m.mu.Lock()
		m.cv.moved(x, p)
		m.mu.Unlock()
	}
	if r.onMove != nil {
		r.onMove(x, p)
	}
}

// requireTree requires name's whole tree (KindFile for files, KindMeta for
// directories) and, if to is set, the absence of each path it moves to.
func (r *recFS) requireTree(op, name, to string) {
	fi, err := r.raw.Stat(name)
	if err != nil {
		return
	}
	if to != "" {
		r.require(op, Region{Kind: KindMeta, Path: to})
	}
	if !fi.IsDir() {
		if to == "" {
			r.require(op, Region{Kind: KindFile, Path: name})
			return
		}
		// The whole file, or its readers told that it moves.
		r.mu.Lock()
		members := r.members
		r.mu.Unlock()
		for _, m := range members() {
			m.mu.Lock()
			if !m.cv.covers(Region{Kind: KindFile, Path: name}, r.bs) && !m.cv.move[name][to] {
				r.violate("%s: moved %s to %s before a copier preserved it or was told", op, name, to)
			}
			m.mu.Unlock()
		}
		return
	}
	r.require(op, Region{Kind: KindMeta, Path: name})
	names, _ := r.raw.List(name)
	for _, n := range names {
		child := ""
		if to != "" {
			child = to + "/" + n
		}
		r.requireTree(op, name+"/"+n, child)
	}
}

func (r *recFS) MkdirAll(dir string, perm fs.FileMode) error {
	if reserved(dir) {
		return r.FS.MkdirAll(dir, perm) // no copier can see it
	}
	for _, p := range prefixes(dir) {
		if _, exists := r.size(p); !exists {
			r.require("mkdirall "+p, Region{Kind: KindMeta, Path: p})
		}
	}
	return r.FS.MkdirAll(dir, perm)
}

func (r *recFS) Lock(name string) (io.Closer, error) {
	if _, exists := r.size(name); !exists {
		r.require("lock "+name, Region{Kind: KindMeta, Path: name})
	}
	return r.FS.Lock(name)
}

// recFile checks a writer's writes and truncations. name follows renames
// (guarded by r.mu); "" once the file was removed.
type recFile struct {
	vfs.File
	r    *recFS
	name string
}

func (f *recFile) path() string {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return f.name
}

func (f *recFile) Close() error {
	f.r.mu.Lock()
	delete(f.r.open, f)
	f.r.mu.Unlock()
	return f.File.Close()
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	size, err := f.File.Size()
	if err != nil {
		return 0, err
	}
	if name := f.path(); len(p) > 0 && name != "" {
		// DESIGN.md's table, computed independently of writeRegions.
		end := off + int64(len(p))
		var regions []Region
		if off < size {
			regions = append(regions, blockRegion(name, off, min(end, size), f.r.bs))
		}
		if end > size {
			regions = append(regions, Region{Kind: KindMeta, Path: name})
			if size%f.r.bs != 0 {
				regions = append(regions, blockRegion(name, size, size+1, f.r.bs))
			}
		}
		f.r.require("write "+name, regions...)
	}
	return f.File.WriteAt(p, off)
}

func (f *recFile) Truncate(n int64) error {
	size, err := f.File.Size()
	if err != nil {
		return err
	}
	name := f.path()
	var regions []Region
	switch {
	case name == "":
	case n < size:
		regions = []Region{{Kind: KindMeta, Path: name}, blockRegion(name, n, size, f.r.bs)}
	case n > size:
		regions = []Region{{Kind: KindMeta, Path: name}}
		if size%f.r.bs != 0 {
			regions = append(regions, blockRegion(name, size, size+1, f.r.bs))
		}
	}
	if len(regions) > 0 {
		f.r.require("truncate "+name, regions...)
	}
	return f.File.Truncate(n)
}

var errTestInjected = errors.New("test: injected failure")
