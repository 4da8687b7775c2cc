package cowtest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/vfs"
)

// Paths are the names the operations draw from: files and directories may
// take any of them, so that a directory can be replaced by a file and a
// create can land under a file.
var Paths = []string{"a", "b", "e", "f", "a/x", "e/x", "e/y", "f/x", "e/x/z"}

// Node is a file or a directory of a model.
type Node struct {
	Dir    bool
	Data   []byte
	Synced []byte // a file's content as of its last Sync: what a crash keeps
}

// Model is a namespace: path to node, the root "." implied.
type Model struct {
	nodes map[string]*Node
}

// NewModel returns an empty namespace.
func NewModel() *Model { return &Model{nodes: map[string]*Node{}} }

// Clone returns a deep copy with new nodes.
func (m *Model) Clone() *Model {
	out := NewModel()
	for p, n := range m.nodes {
		out.nodes[p] = &Node{Dir: n.Dir, Data: slices.Clone(n.Data), Synced: slices.Clone(n.Synced)}
	}
	return out
}

// lookup resolves p like vfs.MemFS: a missing directory on the way gets
// fs.ErrNotExist, a file on the way vfs.ErrNotDir; the node is nil if p
// is missing.
func (m *Model) lookup(p string) (*Node, error) {
	if p == "." {
		return &Node{Dir: true}, nil
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		a := m.nodes[p[:i]]
		switch {
		case a == nil:
			return nil, fs.ErrNotExist
		case !a.Dir:
			return nil, vfs.ErrNotDir
		}
	}
	return m.nodes[p], nil
}

// file resolves p to a file node.
func (m *Model) file(p string) (*Node, error) {
	n, err := m.lookup(p)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, fs.ErrNotExist
	case n.Dir:
		return nil, vfs.ErrIsDir
	}
	return n, nil
}

// under returns the paths strictly below dir, shallowest first.
func (m *Model) under(dir string) []string {
	var out []string
	for p := range m.nodes {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// SyncAll marks every file's content durable (a promotion syncs all).
func (m *Model) SyncAll() {
	for _, n := range m.nodes {
		n.Synced = slices.Clone(n.Data)
	}
}

// Put adds a file or directory (for setting up an initial state).
func (m *Model) Put(p string, n *Node) { m.nodes[p] = n }

// Setup draws a random starting namespace (a few files and directories),
// makes it on fsys, syncs it all and returns its model.
func Setup(t *rapid.T, fsys vfs.FS, bs int) *Model {
	s := &Subject{Name: "setup", FS: fsys, M: NewModel(), Durable: true}
	acts := Actions(func(*rapid.T) *Subject { return s }, bs)
	for range rapid.IntRange(0, 8).Draw(t, "setup ops") {
		acts[rapid.SampledFrom([]string{"write", "mkdir", "write"}).Draw(t, "setup op")](t)
	}
	if err := SyncTree(fsys, "."); err != nil {
		t.Fatalf("setup: %v", err)
	}
	s.M.SyncAll()
	return s.M
}

// SyncTree syncs every file and directory of fsys below dir.
func SyncTree(fsys vfs.FS, dir string) error { return vfs.SyncTree(fsys, dir, true) }

// Handle is a long-lived open file of a Subject and its model.
type Handle struct {
	f    vfs.File
	name string
	node *Node // nil: the file is found by name (after a reset)
	err  error // set: the file is gone (after a promotion); calls fail with it
}

// Lock is a lock held by a Subject and its model.
type Lock struct {
	c    io.Closer
	name string
	node *Node // nil: by name (after a reset), or none (gone set)
	gone bool  // promoted without a file: it excludes nothing
}

// Subject is a file system under test and its model. Durable says
// whether Sync makes content durable (a writer) or does nothing (a
// copier).
type Subject struct {
	Name    string
	FS      vfs.FS
	M       *Model
	Durable bool
	Handles []*Handle // at most MaxHandles
	Locks   []*Lock   // at most MaxLocks
}

// Bounds on what a Subject holds open.
const (
	MaxHandles = 2
	MaxLocks   = 2
)

// drawFrom draws one of Paths for which ok holds, or any if none does.
func (s *Subject) drawFrom(t *rapid.T, label string, ok func(string) bool) string {
	var pool []string
	for _, p := range Paths {
		if ok(p) {
			pool = append(pool, p)
		}
	}
	if len(pool) == 0 {
		pool = Paths
	}
	return rapid.SampledFrom(pool).Draw(t, label)
}

// isDir reports whether p is a directory.
func (m *Model) isDir(p string) bool {
	n, err := m.lookup(p)
	return err == nil && n != nil && n.Dir
}

// creatable reports whether p is missing and its parent exists.
func (m *Model) creatable(p string) bool {
	n, err := m.lookup(p)
	return err == nil && n == nil
}

// drawPath draws a path: two times in five one that exists in s's model
// (so that removes, renames and handles find something), one in five a
// missing one whose parent exists (a rename or create target), one in
// five one whose parent is missing or a file (so that operations fail
// there), otherwise any.
func (s *Subject) drawPath(t *rapid.T, label string) string {
	var pool []string
	switch rapid.IntRange(0, 4).Draw(t, label+" kind") {
	case 0, 1:
		pool = slices.Sorted(maps.Keys(s.M.nodes))
	case 2:
		for _, p := range Paths {
			if s.M.creatable(p) {
				pool = append(pool, p)
			}
		}
	case 3:
		for _, p := range Paths {
			if _, err := s.M.lookup(p); err != nil {
				pool = append(pool, p)
			}
		}
	}
	if len(pool) == 0 {
		pool = Paths
	}
	return rapid.SampledFrom(pool).Draw(t, label)
}

func drawData(t *rapid.T, max int) []byte {
	n := rapid.IntRange(1, max).Draw(t, "data len")
	seed := rapid.Byte().Draw(t, "data seed")
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) | 1 // never zero
	}
	return b
}

func drawOff(t *rapid.T, bs int) int64 {
	if rapid.Bool().Draw(t, "aligned") {
		return int64(rapid.IntRange(0, 6).Draw(t, "block") * bs)
	}
	return int64(rapid.IntRange(0, 6*bs).Draw(t, "off"))
}

func writeAt(n *Node, data []byte, off int64) {
	if end := off + int64(len(data)); int64(len(n.Data)) < end {
		n.Data = append(n.Data, make([]byte, end-int64(len(n.Data)))...)
	}
	copy(n.Data[off:], data)
}

func truncate(n *Node, size int64) {
	if int64(len(n.Data)) >= size {
		n.Data = n.Data[:size]
	} else {
		n.Data = append(n.Data, make([]byte, size-int64(len(n.Data)))...)
	}
}

// expect fails t unless err matches want (nil: no error).
func (s *Subject) expect(t *rapid.T, err, want error, format string, args ...any) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: "+format+": %v", append(append([]any{s.Name}, args...), err)...)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: "+format+": got %v, want %v", append(append([]any{s.Name}, args...), err, want)...)
	}
}

// Actions returns the operations of the model, to merge into a
// rapid.T.Repeat map; bs is the block size the offsets are drawn around.
// pick chooses the subject of each operation.
func Actions(pick func(*rapid.T) *Subject, bs int) map[string]func(*rapid.T) {
	handle := func(t *rapid.T) int { return rapid.IntRange(0, MaxHandles-1).Draw(t, "handle") }
	return map[string]func(*rapid.T){
		"write": func(t *rapid.T) {
			s := pick(t)
			s.Write(t, s.drawPath(t, "path"), drawOff(t, bs), drawData(t, 3*bs))
		},
		"truncate": func(t *rapid.T) { s := pick(t); s.Truncate(t, s.drawPath(t, "path"), drawOff(t, bs)) },
		"create":   func(t *rapid.T) { s := pick(t); s.Create(t, s.drawPath(t, "path"), rapid.Bool().Draw(t, "excl")) },
		"remove":   func(t *rapid.T) { s := pick(t); s.Remove(t, s.drawPath(t, "path")) },
		"rmtree":   func(t *rapid.T) { s := pick(t); s.RemoveTree(t, s.drawPath(t, "path")) },
		"renamedir": func(t *rapid.T) {
			s := pick(t)
			s.Rename(t, s.drawFrom(t, "dir", s.M.isDir), s.drawFrom(t, "to", s.M.creatable))
		},
		"rename": func(t *rapid.T) { s := pick(t); s.Rename(t, s.drawPath(t, "from"), s.drawPath(t, "to")) },
		"mkdir":  func(t *rapid.T) { s := pick(t); s.MkdirAll(t, s.drawPath(t, "dir")) },
		"lock":   func(t *rapid.T) { s := pick(t); s.Lock(t, s.drawPath(t, "path")) },
		"unlock": func(t *rapid.T) { pick(t).Unlock(t, rapid.IntRange(0, MaxLocks-1).Draw(t, "lock")) },
		"sync":   func(t *rapid.T) { s := pick(t); s.Sync(t, s.drawPath(t, "path")) },
		"hopen":  func(t *rapid.T) { s := pick(t); s.HOpen(t, s.drawPath(t, "path"), rapid.Bool().Draw(t, "create")) },
		"hwrite": func(t *rapid.T) {
			pick(t).HWrite(t, handle(t), drawOff(t, bs), drawData(t, 3*bs))
		},
		"htruncate": func(t *rapid.T) { pick(t).HTruncate(t, handle(t), drawOff(t, bs)) },
		"hsync":     func(t *rapid.T) { pick(t).HSync(t, handle(t)) },
		"hclose":    func(t *rapid.T) { pick(t).HClose(t, handle(t)) },
	}
}

// createFile is Open with os.O_CREATE in the model: the node at p, created
// if missing, or the error.
func (m *Model) createFile(p string, excl bool) (*Node, error) {
	n, err := m.lookup(p)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		if p == "." {
			return nil, vfs.ErrIsDir
		}
		n = &Node{}
		m.nodes[p] = n
		return n, nil
	case excl:
		return nil, fs.ErrExist
	case n.Dir:
		return nil, vfs.ErrIsDir
	}
	return n, nil
}

// Write opens p with O_CREATE, writes data at off and closes.
func (s *Subject) Write(t *rapid.T, p string, off int64, data []byte) {
	f, err := s.FS.Open(p, os.O_RDWR|os.O_CREATE, 0o644)
	n, want := s.M.createFile(p, false)
	s.expect(t, err, want, "Open(%q, O_CREATE)", p)
	if want != nil {
		return
	}
	k, err := f.WriteAt(data, off)
	s.expect(t, err, nil, "WriteAt(%q)", p)
	if k != len(data) {
		t.Fatalf("%s: WriteAt(%q) wrote %d of %d", s.Name, p, k, len(data))
	}
	s.expect(t, f.Close(), nil, "Close(%q)", p)
	writeAt(n, data, off)
}

// Truncate opens an existing p, truncates it and closes.
func (s *Subject) Truncate(t *rapid.T, p string, size int64) {
	f, err := s.FS.Open(p, os.O_RDWR, 0)
	n, want := s.M.file(p)
	s.expect(t, err, want, "Open(%q)", p)
	if want != nil {
		return
	}
	s.expect(t, f.Truncate(size), nil, "Truncate(%q)", p)
	s.expect(t, f.Close(), nil, "Close(%q)", p)
	truncate(n, size)
}

// Create opens p with O_CREATE and O_EXCL or O_TRUNC and closes.
func (s *Subject) Create(t *rapid.T, p string, excl bool) {
	flag := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if excl {
		flag = os.O_RDWR | os.O_CREATE | os.O_EXCL
	}
	f, err := s.FS.Open(p, flag, 0o644)
	n, want := s.M.createFile(p, excl)
	s.expect(t, err, want, "Open(%q, %#x)", p, flag)
	if want != nil {
		return
	}
	s.expect(t, f.Close(), nil, "Close(%q)", p)
	truncate(n, 0)
}

// bindByName binds the handles and locks found by name p to n, the file
// at p, before p stops naming it (a copier does this on remove and
// rename).
func (s *Subject) bindByName(p string, n *Node) {
	if n == nil || n.Dir {
		return
	}
	for _, h := range s.Handles {
		if h != nil && h.node == nil && h.err == nil && h.name == p {
			h.node = n
		}
	}
	for _, l := range s.Locks {
		if l != nil && l.node == nil && !l.gone && l.name == p {
			l.node = n
		}
	}
}

// Remove removes p.
func (s *Subject) Remove(t *rapid.T, p string) {
	err := s.FS.Remove(p)
	want := func() error {
		if p == "." {
			return fs.ErrInvalid
		}
		n, err := s.M.lookup(p)
		switch {
		case err != nil:
			return err
		case n == nil:
			return fs.ErrNotExist
		case n.Dir && len(s.M.under(p)) > 0:
			return vfs.ErrNotEmpty
		}
		s.bindByName(p, n)
		delete(s.M.nodes, p)
		return nil
	}()
	s.expect(t, err, want, "Remove(%q)", p)
}

// RemoveTree removes p and everything below it, deepest first, with
// Remove (an engine dropping a directory).
func (s *Subject) RemoveTree(t *rapid.T, p string) {
	if n, err := s.M.lookup(p); err == nil && n != nil && n.Dir {
		for _, c := range slices.Backward(s.M.under(p)) {
			s.Remove(t, c)
		}
	}
	s.Remove(t, p)
}

// Rename renames a to b, following vfs.MemFS's order of checks.
func (s *Subject) Rename(t *rapid.T, a, b string) {
	err := s.FS.Rename(a, b)
	want := func() error {
		if a == "." || b == "." {
			return fs.ErrInvalid
		}
		n, err := s.M.lookup(a)
		if err != nil {
			return err
		}
		target, err := s.M.lookup(b)
		switch {
		case err != nil:
			return err
		case n == nil:
			return fs.ErrNotExist
		case target != nil && target.Dir:
			return fs.ErrExist
		case target == n:
			return nil
		case n.Dir && strings.HasPrefix(b, a+"/"):
			return fs.ErrInvalid
		case n.Dir && target != nil:
			return vfs.ErrNotDir
		}
		s.bindByName(a, n)
		s.bindByName(b, target)
		moved := map[string]*Node{b: n}
		for _, p := range s.M.under(a) {
			s.bindByName(p, s.M.nodes[p])
			moved[b+p[len(a):]] = s.M.nodes[p]
			delete(s.M.nodes, p)
		}
		delete(s.M.nodes, a)
		for p, n := range moved {
			s.M.nodes[p] = n
		}
		return nil
	}()
	s.expect(t, err, want, "Rename(%q, %q)", a, b)
}

// MkdirAll creates dir and its parents.
func (s *Subject) MkdirAll(t *rapid.T, dir string) {
	err := s.FS.MkdirAll(dir, 0o755)
	want := func() error {
		var parts []string
		for i := 0; i <= len(dir); i++ {
			if i == len(dir) || dir[i] == '/' {
				parts = append(parts, dir[:i])
			}
		}
		for _, p := range parts {
			switch n := s.M.nodes[p]; {
			case n == nil:
				s.M.nodes[p] = &Node{Dir: true}
			case !n.Dir:
				return vfs.ErrNotDir
			}
		}
		return nil
	}()
	s.expect(t, err, want, "MkdirAll(%q)", dir)
}

// locked reports whether one of s's locks holds n (or the name p, for a
// lock found by name).
func (s *Subject) locked(p string, n *Node) bool {
	for _, l := range s.Locks {
		if l == nil || l.gone {
			continue
		}
		if (l.node != nil && l.node == n) || (l.node == nil && l.name == p) {
			return true
		}
	}
	return false
}

// Lock takes a lock on p into a free slot (a no-op if none is free).
func (s *Subject) Lock(t *rapid.T, p string) {
	slot := slices.Index(s.Locks, nil)
	if slot < 0 {
		if len(s.Locks) >= MaxLocks {
			return
		}
		s.Locks = append(s.Locks, nil)
		slot = len(s.Locks) - 1
	}
	c, err := s.FS.Lock(p)
	n, want := func() (*Node, error) {
		n, err := s.M.lookup(p)
		switch {
		case err != nil:
			return nil, err
		case n == nil && s.locked(p, nil):
			return nil, vfs.ErrLocked
		case n == nil:
			if p == "." {
				return nil, vfs.ErrIsDir
			}
			n = &Node{}
			s.M.nodes[p] = n
			return n, nil
		case n.Dir:
			return nil, vfs.ErrIsDir
		case s.locked(p, n):
			return nil, vfs.ErrLocked
		}
		return n, nil
	}()
	s.expect(t, err, want, "Lock(%q)", p)
	if want == nil {
		s.Locks[slot] = &Lock{c: c, name: p, node: n}
	}
}

// Unlock releases the lock in slot i, if any.
func (s *Subject) Unlock(t *rapid.T, i int) {
	if i >= len(s.Locks) || s.Locks[i] == nil {
		return
	}
	s.expect(t, s.Locks[i].c.Close(), nil, "unlock %q", s.Locks[i].name)
	s.Locks[i] = nil
}

// Sync opens an existing p, syncs it and closes, then syncs its directory.
func (s *Subject) Sync(t *rapid.T, p string) {
	f, err := s.FS.Open(p, os.O_RDWR, 0)
	n, want := s.M.file(p)
	s.expect(t, err, want, "Open(%q)", p)
	if want == nil {
		s.expect(t, f.Sync(), nil, "Sync(%q)", p)
		s.expect(t, f.Close(), nil, "Close(%q)", p)
		if s.Durable {
			n.Synced = slices.Clone(n.Data)
		}
	}
	d := vfs.Dir(p)
	dn, want := s.M.lookup(d)
	switch {
	case want != nil:
	case dn == nil:
		want = fs.ErrNotExist
	case !dn.Dir:
		want = vfs.ErrNotDir
	}
	s.expect(t, s.FS.SyncDir(d), want, "SyncDir(%q)", d)
}

// HOpen opens p into a free handle slot (a no-op if none is free).
func (s *Subject) HOpen(t *rapid.T, p string, create bool) {
	slot := slices.Index(s.Handles, nil)
	if slot < 0 {
		if len(s.Handles) >= MaxHandles {
			return
		}
		s.Handles = append(s.Handles, nil)
		slot = len(s.Handles) - 1
	}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := s.FS.Open(p, flag, 0o644)
	var n *Node
	var want error
	if create {
		n, want = s.M.createFile(p, false)
	} else {
		n, want = s.M.file(p)
	}
	s.expect(t, err, want, "Open(%q, %#x)", p, flag)
	if want == nil {
		s.Handles[slot] = &Handle{f: f, name: p, node: n}
	}
}

// target is the node handle i works on, or the error its calls get.
func (s *Subject) target(i int) (*Handle, *Node, error) {
	if i >= len(s.Handles) || s.Handles[i] == nil {
		return nil, nil, nil
	}
	h := s.Handles[i]
	switch {
	case h.err != nil:
		return h, nil, h.err
	case h.node != nil:
		return h, h.node, nil
	}
	n, err := s.M.file(h.name)
	return h, n, err
}

// HWrite writes through handle i.
func (s *Subject) HWrite(t *rapid.T, i int, off int64, data []byte) {
	h, n, want := s.target(i)
	if h == nil {
		return
	}
	k, err := h.f.WriteAt(data, off)
	s.expect(t, err, want, "handle %q WriteAt", h.name)
	if want == nil {
		if k != len(data) {
			t.Fatalf("%s: handle %q WriteAt wrote %d of %d", s.Name, h.name, k, len(data))
		}
		writeAt(n, data, off)
	}
}

// HTruncate truncates through handle i.
func (s *Subject) HTruncate(t *rapid.T, i int, size int64) {
	h, n, want := s.target(i)
	if h == nil {
		return
	}
	s.expect(t, h.f.Truncate(size), want, "handle %q Truncate", h.name)
	if want == nil {
		truncate(n, size)
	}
}

// HSync syncs through handle i.
func (s *Subject) HSync(t *rapid.T, i int) {
	h, n, want := s.target(i)
	if h == nil {
		return
	}
	err := h.f.Sync()
	if !s.Durable || h.err != nil {
		// A copier's Sync checks nothing but invalidation; a gone
		// file's fails.
		if h.err != nil {
			s.expect(t, err, h.err, "handle %q Sync", h.name)
		}
		return
	}
	s.expect(t, err, want, "handle %q Sync", h.name)
	if want == nil {
		n.Synced = slices.Clone(n.Data)
	}
}

// HClose closes handle i.
func (s *Subject) HClose(t *rapid.T, i int) {
	if i >= len(s.Handles) || s.Handles[i] == nil {
		return
	}
	s.expect(t, s.Handles[i].f.Close(), nil, "handle %q Close", s.Handles[i].name)
	s.Handles[i] = nil
}

// CloseAll closes every handle and releases every lock (a discarded view).
func (s *Subject) CloseAll(t *rapid.T) {
	for i := range s.Handles {
		s.HClose(t, i)
	}
	for i := range s.Locks {
		s.Unlock(t, i)
	}
}

// SyncOpen marks durable the files of open handles (what ResetCopier
// syncs at the writer).
func (s *Subject) SyncOpen() {
	for _, h := range s.Handles {
		if h != nil && h.node != nil {
			h.node.Synced = slices.Clone(h.node.Data)
		}
	}
}

// Reset gives s the namespace of from (a copier reset): handles and locks
// held across it find their file by name from now on.
func (s *Subject) Reset(from *Model) {
	s.M = from.Clone()
	for _, h := range s.Handles {
		if h != nil && h.err == nil {
			h.node = nil
		}
	}
	for _, l := range s.Locks {
		if l != nil && !l.gone {
			l.node = nil
		}
	}
}

// Promote makes s a writer: handles and locks found by name are bound to
// the file at their name, or gone if there is none, and everything is
// durable.
func (s *Subject) Promote() {
	for _, h := range s.Handles {
		if h != nil && h.err == nil && h.node == nil {
			h.node, h.err = s.M.file(h.name)
		}
	}
	for _, l := range s.Locks {
		if l != nil && !l.gone && l.node == nil {
			n, err := s.M.file(l.name)
			l.node, l.gone = n, err != nil
		}
	}
	s.Durable = true
	s.M.SyncAll()
}

// Check compares the whole namespace of s.FS, and every open handle, with
// the model.
func (s *Subject) Check(t *rapid.T) {
	t.Helper()
	CheckFS(t, s.Name, s.FS, s.M, false)
	for _, h := range s.Handles {
		if h == nil {
			continue
		}
		var n *Node
		var want error
		switch {
		case h.err != nil:
			want = h.err
		case h.node != nil:
			n = h.node
		default:
			n, want = s.M.file(h.name)
		}
		size, err := h.f.Size()
		s.expect(t, err, want, "handle %q Size", h.name)
		if want != nil {
			_, err := h.f.ReadAt(make([]byte, 1), 0)
			s.expect(t, err, want, "handle %q ReadAt", h.name)
			continue
		}
		if size != int64(len(n.Data)) {
			t.Fatalf("%s: handle %q Size() = %d, want %d", s.Name, h.name, size, len(n.Data))
		}
		buf := make([]byte, len(n.Data)+10)
		k, err := h.f.ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: handle %q ReadAt: %v", s.Name, h.name, err)
		}
		if !bytes.Equal(buf[:k], n.Data) {
			t.Fatalf("%s: handle %q reads %d bytes, not the model's %d (first difference at %d)", s.Name, h.name, k, len(n.Data), firstDiff(buf[:k], n.Data))
		}
	}
}

// CheckFS compares fsys with m on every path of Paths: existence, kind,
// size, content and listings. With durable, a file's content must be its
// Synced content (fsys is a crash clone).
func CheckFS(t *rapid.T, who string, fsys vfs.FS, m *Model, durable bool) {
	t.Helper()
	for _, p := range Paths {
		n, want := m.lookup(p)
		if want == nil && n == nil {
			want = fs.ErrNotExist
		}
		fi, err := fsys.Stat(p)
		if want != nil {
			if !errors.Is(err, want) {
				t.Fatalf("%s: Stat(%q) = %v, %v; want %v", who, p, fi, err, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Stat(%q): %v", who, p, err)
		}
		if fi.IsDir() != n.Dir {
			t.Fatalf("%s: Stat(%q).IsDir() = %v, want %v", who, p, fi.IsDir(), n.Dir)
		}
		if n.Dir {
			continue
		}
		data := n.Data
		if durable {
			data = n.Synced
		}
		if fi.Size() != int64(len(data)) {
			t.Fatalf("%s: Stat(%q).Size() = %d, want %d", who, p, fi.Size(), len(data))
		}
		got, err := vfs.ReadFile(fsys, p)
		if err != nil {
			t.Fatalf("%s: ReadFile(%q): %v", who, p, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: content of %q differs from the model (len %d vs %d, first difference at %d)", who, p, len(got), len(data), firstDiff(got, data))
		}
	}
	for _, dir := range append([]string{"."}, Paths...) {
		n, want := m.lookup(dir)
		switch {
		case want != nil:
		case n == nil:
			want = fs.ErrNotExist
		case !n.Dir:
			want = vfs.ErrNotDir
		}
		got, err := fsys.List(dir)
		if want != nil {
			if !errors.Is(err, want) {
				t.Fatalf("%s: List(%q) = %q, %v; want %v", who, dir, got, err, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: List(%q): %v", who, dir, err)
		}
		var names []string
		for p := range m.nodes {
			if path.Dir(p) == dir {
				names = append(names, path.Base(p))
			}
		}
		slices.Sort(names)
		if dir == "." {
			// The holding area of package cow (cow.HoldDir), on shared
			// storage beside the engine's files but not in any view.
			got = slices.DeleteFunc(got, func(n string) bool { return n == ".holeycow-held" })
		}
		if !slices.Equal(got, names) {
			t.Fatalf("%s: List(%q) = %q, want %q", who, dir, got, names)
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
