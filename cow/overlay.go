package cow

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// node is a file or directory in a copier's overlay.
//
// A file node's content in the copier's view is, for each block idx below
// size: the overlay block if idx is in blocks; otherwise the shared bytes
// of the file at the node's path (or at src) below limit, then zeros. limit <= size
// always; limit is 0 for a file held wholly in the overlay (created by the
// copier, renamed, removed while open, or preserved as KindFile). Overlay
// blocks hold zeros past size.
type node struct {
	id      uint64
	dir     bool
	mode    fs.FileMode
	modTime time.Time
	size    int64
	limit   int64
	blocks  map[int64]struct{}
	linked  bool // an entry names it
	refs    int  // open files bound to it (file.node == this)
	// src is the held file (HeldPath) that the shared bytes below limit
	// are read from, once the writer said it moves the file there
	// (KindHold); "" while they are read at the node's path. srcName is
	// that path, where the file still is until the writer moves it.
	src, srcName string
	// mv is set once the writer said the shared file this node reads
	// moves (KindMove): the node reads it through mv's handle, wherever
	// it is (move.go). Never set with src.
	mv *follower
}

// copier is the copier half of a View.
type copier struct {
	store Store
	// mu is the copier lock. Reads hold it shared from the overlay lookup
	// to the end of any shared read they need, so that Preserve, which
	// holds it exclusively, is linearizable with them (invariant 8).
	// Copier writes and Reset hold it exclusively too.
	mu struct {
		sync.RWMutex
		entries map[string]*node   // nil value: a whiteout
		orphans map[*node]struct{} // unlinked nodes kept by open files
		nextID  uint64
		handles map[*file]struct{}
		locks   map[*lockHandle]struct{}
		invalid error  // set by Invalidate, cleared by Reset
		gen     uint64 // reset generation; cached shared handles of older ones are stale
		// followers indexes the nodes that follow moved files (move.go).
		followers followers
	}
	// hmu guards held, the handles on held files that nodes read. Taken
	// after mu.
	hmu  sync.Mutex
	held heldCache
}

func (c *copier) init(st Store) {
	c.store = st
	c.mu.entries = make(map[string]*node)
	c.mu.orphans = make(map[*node]struct{})
	c.mu.handles = make(map[*file]struct{})
	c.mu.locks = make(map[*lockHandle]struct{})
}

func (c *copier) newNode(dir bool, mode fs.FileMode) *node {
	c.mu.nextID++
	return &node{id: c.mu.nextID, dir: dir, mode: mode, modTime: time.Now(), blocks: make(map[int64]struct{})}
}

func (c *copier) link(name string, n *node) {
	if old := c.mu.entries[name]; old != nil && old != n {
		c.unlink(old)
	}
	c.mu.entries[name] = n
	if n != nil {
		n.linked = true
		delete(c.mu.orphans, n)
	}
}

// unlink marks n as no longer named; its blocks go once no open file is
// bound to it.
func (c *copier) unlink(n *node) {
	n.linked = false
	c.release(n)
}

func (c *copier) release(n *node) {
	if n.linked {
		return
	}
	if n.refs > 0 {
		c.mu.orphans[n] = struct{}{}
		return
	}
	delete(c.mu.orphans, n)
	c.unfollow(n)
	if len(n.blocks) > 0 {
		if err := c.store.DeleteFile(n.id); err != nil {
			// The blocks are unreachable either way; the store only
			// leaks space until the next reset.
			_ = err
		}
		n.blocks = map[int64]struct{}{}
	}
}

// vstat is what the copier's view says about a path.
type vstat struct {
	dir bool
	n   *node       // the overlay node, nil if the path is seen on shared storage
	fi  fs.FileInfo // shared storage's FileInfo when n is nil
}

var errAbsent = fs.ErrNotExist

// lookup resolves name in the copier's view. It returns fs.ErrNotExist or
// vfs.ErrNotDir (bare) when the view has no such path, or an error of
// shared storage. Called with c.mu held.
func (v *View) lookup(name string) (vstat, error) {
	c := &v.c
	if name == "." {
		return vstat{dir: true}, nil
	}
	overlaid := false
	for _, a := range prefixes(name) {
		if a == name {
			break
		}
		if n, ok := c.mu.entries[a]; ok {
			overlaid = true
			if n == nil {
				return vstat{}, errAbsent
			}
			if !n.dir {
				return vstat{}, vfs.ErrNotDir
			}
		}
	}
	if n, ok := c.mu.entries[name]; ok {
		if n == nil {
			return vstat{}, errAbsent
		}
		return vstat{dir: n.dir, n: n}, nil
	}
	fi, err := v.shared.Stat(name)
	switch {
	case err == nil:
		return vstat{dir: fi.IsDir(), fi: fi}, nil
	case errors.Is(err, fs.ErrNotExist):
		return vstat{}, errAbsent
	case errors.Is(err, vfs.ErrNotDir):
		if !overlaid {
			return vstat{}, vfs.ErrNotDir
		}
		// Some shared ancestor is a file: it is one in the view too
		// unless the overlay names it.
		for _, a := range prefixes(name) {
			if a == name {
				break
			}
			if _, ok := c.mu.entries[a]; ok {
				continue
			}
			afi, err := v.shared.Stat(a)
			if err != nil {
				return vstat{}, errAbsent
			}
			if !afi.IsDir() {
				return vstat{}, vfs.ErrNotDir
			}
		}
		return vstat{}, errAbsent
	}
	return vstat{}, err
}

// materialize returns the overlay node of an existing path, creating it
// from shared storage (size and limit = the shared size) if needed.
func (v *View) materialize(name string, vs vstat) *node {
	if vs.n != nil {
		return vs.n
	}
	c := &v.c
	var n *node
	if vs.fi != nil {
		n = c.newNode(vs.dir, vs.fi.Mode())
		n.modTime = vs.fi.ModTime()
		if !vs.dir {
			n.size = vs.fi.Size()
			n.limit = n.size
		}
	} else { // the root
		n = c.newNode(true, fs.ModeDir|0o755)
	}
	c.link(name, n)
	return n
}

// source reads a file's bytes on shared storage: through an open file's
// cached handle, or through a handle of its own opened on first use.
type source struct {
	v    *View
	name string
	f    *file    // nil: open by name
	own  vfs.File // opened by the source itself
	// held is set when name is a held file (HeldPath): the path the file
	// is read at until the writer moves it there (heldHandle).
	held string
	// fixed is the handle of a node that follows a moved file: the
	// source reads through it and never closes it.
	fixed vfs.File
}

func (s *source) handle() (vfs.File, error) {
	if s.fixed != nil {
		return s.fixed, nil
	}
	if s.own != nil {
		return s.own, nil
	}
	if s.held != "" {
		return s.v.heldHandle(s)
	}
	if s.f != nil {
		return s.v.sharedFile(s.f)
	}
	if s.own == nil {
		h, err := s.v.shared.Open(s.name, os.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		s.own = h
	}
	return s.own, nil
}

func (s *source) close() {
	if s.own != nil {
		s.own.Close()
		s.own = nil
	}
}

// readFull fills p from shared bytes at off; bytes past the shared end of
// file read as zeros.
func (s *source) readFull(p []byte, off int64) error {
	h, err := s.handle()
	if err != nil {
		return err
	}
	n, err := h.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	clear(p[n:])
	return nil
}

// sharedFile returns f's cached read-only handle on shared storage,
// (re)opening it if it is missing or from before the last reset. Called
// with c.mu held (shared or exclusive).
func (v *View) sharedFile(f *file) (vfs.File, error) {
	f.shmu.Lock()
	defer f.shmu.Unlock()
	gen := v.c.mu.gen
	if f.rsh != nil && f.rgen == gen {
		return f.rsh, nil
	}
	if f.rsh != nil {
		f.rsh.Close()
		f.rsh = nil
	}
	h, err := v.shared.Open(f.name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	f.rsh, f.rgen = h, gen
	return h, nil
}

func overlayErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("cow: overlay: %w", err)}
}

// readNode reads a file node's view content. Called with c.mu held.
func (v *View) readNode(n *node, src *source, p []byte, off int64, name string) (int, error) {
	if off >= n.size {
		return 0, io.EOF
	}
	bs := v.bs
	end := min(off+int64(len(p)), n.size)
	var buf []byte
	for pos := off; pos < end; {
		idx := pos / bs
		bstart := idx * bs
		bend := min(bstart+bs, end)
		dst := p[pos-off : bend-off]
		if _, ok := n.blocks[idx]; ok {
			var err error
			if pos == bstart && int64(len(dst)) == bs {
				err = v.c.store.ReadBlock(n.id, idx, dst)
			} else {
				if buf == nil {
					buf = make([]byte, bs)
				}
				if err = v.c.store.ReadBlock(n.id, idx, buf); err == nil {
					copy(dst, buf[pos-bstart:])
				}
			}
			if err != nil {
				return int(pos - off), overlayErr("read", name, err)
			}
		} else if pos < n.limit {
			m := min(bend, n.limit) - pos
			if err := src.readFull(dst[:m], pos); err != nil {
				return int(pos - off), pathErr("read", name, err)
			}
			clear(dst[m:])
		} else {
			clear(dst)
		}
		pos = bend
	}
	if k := int(end - off); k < len(p) {
		return k, io.EOF
	}
	return len(p), nil
}

// viewBlock fills buf (one block) with block idx of n as the view sees it.
func (v *View) viewBlock(n *node, src *source, idx int64, buf []byte, name string) error {
	if _, ok := n.blocks[idx]; ok {
		if err := v.c.store.ReadBlock(n.id, idx, buf); err != nil {
			return overlayErr("read", name, err)
		}
		return nil
	}
	clear(buf)
	start := idx * v.bs
	if start < n.limit {
		m := min(v.bs, n.limit-start)
		if err := src.readFull(buf[:m], start); err != nil {
			return pathErr("read", name, err)
		}
	}
	return nil
}

// writeNode writes p at off into the overlay. Called with c.mu held
// exclusively. On error, the blocks written so far stay (as a partial
// write would on disk) and size covers them.
func (v *View) writeNode(n *node, src *source, p []byte, off int64, name string) (int, error) {
	bs := v.bs
	end := off + int64(len(p))
	var buf []byte
	written := 0
	for pos := off; pos < end; {
		idx := pos / bs
		bstart := idx * bs
		bend := min(bstart+bs, end)
		var blk []byte
		if pos == bstart && bend-bstart == bs {
			blk = p[pos-off : bend-off]
		} else {
			if buf == nil {
				buf = make([]byte, bs)
			}
			if err := v.viewBlock(n, src, idx, buf, name); err != nil {
				return written, err
			}
			copy(buf[pos-bstart:], p[pos-off:bend-off])
			blk = buf
		}
		if err := v.c.store.WriteBlock(n.id, idx, blk); err != nil {
			return written, overlayErr("write", name, err)
		}
		n.blocks[idx] = struct{}{}
		n.size = max(n.size, bend)
		written += int(bend - pos)
		pos = bend
	}
	n.modTime = time.Now()
	return written, nil
}

// truncateNode sets n's size in the overlay. Called with c.mu held
// exclusively.
func (v *View) truncateNode(n *node, size int64, name string) error {
	bs := v.bs
	if size < n.size {
		if idx := size / bs; size%bs != 0 {
			if _, ok := n.blocks[idx]; ok {
				buf := make([]byte, bs)
				if err := v.c.store.ReadBlock(n.id, idx, buf); err != nil {
					return overlayErr("truncate", name, err)
				}
				clear(buf[size-idx*bs:])
				if err := v.c.store.WriteBlock(n.id, idx, buf); err != nil {
					return overlayErr("truncate", name, err)
				}
			}
		}
		n.limit = min(n.limit, size)
		if n.limit == 0 {
			n.src, n.srcName = "", "" // reads no shared byte any more
			v.c.unfollow(n)
		}
		for idx := range n.blocks {
			if idx*bs >= size {
				// DeleteBlock errors only leak space: the block is
				// past size and never read again.
				_ = v.c.store.DeleteBlock(n.id, idx)
				delete(n.blocks, idx)
			}
		}
	}
	n.size = size
	n.modTime = time.Now()
	return nil
}

// preserveBlocks copies blocks [first, end) of n that the view still reads
// from shared storage into the overlay.
func (v *View) preserveBlocks(n *node, src *source, first, end int64, name string) error {
	bs := v.bs
	buf := make([]byte, bs)
	for idx := first; idx < end && idx*bs < n.limit; idx++ {
		if _, ok := n.blocks[idx]; ok {
			continue
		}
		if err := v.viewBlock(n, src, idx, buf, name); err != nil {
			return err
		}
		if err := v.c.store.WriteBlock(n.id, idx, buf); err != nil {
			return overlayErr("preserve", name, err)
		}
		n.blocks[idx] = struct{}{}
	}
	return nil
}

// detach takes the whole of n into the overlay (limit 0), so that it no
// longer depends on the shared file at name. All-zero blocks are left out:
// past limit, a missing block reads as zeros.
func (v *View) detach(n *node, src *source, name string) error {
	if n.dir || n.limit == 0 {
		n.src, n.srcName = "", ""
		v.c.unfollow(n)
		return nil
	}
	bs := v.bs
	buf := make([]byte, bs)
	for idx := int64(0); idx*bs < n.limit; idx++ {
		if _, ok := n.blocks[idx]; ok {
			continue
		}
		if err := v.viewBlock(n, src, idx, buf, name); err != nil {
			return err
		}
		if isZero(buf) {
			continue
		}
		if err := v.c.store.WriteBlock(n.id, idx, buf); err != nil {
			return overlayErr("preserve", name, err)
		}
		n.blocks[idx] = struct{}{}
	}
	n.limit = 0
	n.src, n.srcName = "", ""
	v.c.unfollow(n)
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// check verifies the copier's invariants.
func (c *copier) check(bs int64) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var errs []error
	live := map[*node]bool{}
	for name, n := range c.mu.entries {
		if n == nil {
			continue
		}
		live[n] = true
		if !n.linked {
			errs = append(errs, fmt.Errorf("cow: overlay: %s names a node marked unlinked", name))
		}
		if _, ok := c.mu.orphans[n]; ok {
			errs = append(errs, fmt.Errorf("cow: overlay: %s is both named and orphaned", name))
		}
	}
	for n := range c.mu.orphans {
		live[n] = true
		if n.linked || n.refs == 0 {
			errs = append(errs, fmt.Errorf("cow: overlay: orphan node %d: linked %v, %d open files", n.id, n.linked, n.refs))
		}
	}
	refs := map[*node]int{}
	for f := range c.mu.handles {
		if f.node != nil {
			refs[f.node]++
			if !live[f.node] {
				errs = append(errs, fmt.Errorf("cow: overlay: open file %s bound to a dropped node", f.name))
			}
		}
	}
	var blocks int64
	buf := make([]byte, bs)
	for n := range live {
		if refs[n] != n.refs {
			errs = append(errs, fmt.Errorf("cow: overlay: node %d counts %d open files, has %d", n.id, n.refs, refs[n]))
		}
		if n.dir {
			if len(n.blocks) > 0 || n.size != 0 || n.limit != 0 {
				errs = append(errs, fmt.Errorf("cow: overlay: directory node %d has content", n.id))
			}
			continue
		}
		if n.src != "" && (n.limit == 0 || !reserved(n.src) || n.srcName == "") {
			errs = append(errs, fmt.Errorf("cow: overlay: node %d reads held file %q (at first %q) with limit %d", n.id, n.src, n.srcName, n.limit))
		}
		if n.limit < 0 || n.limit > n.size {
			errs = append(errs, fmt.Errorf("cow: overlay: node %d: limit %d outside [0, size %d]", n.id, n.limit, n.size))
		}
		for idx := range n.blocks {
			blocks++
			if idx < 0 || idx*bs >= n.size {
				errs = append(errs, fmt.Errorf("cow: overlay: node %d: block %d outside size %d", n.id, idx, n.size))
				continue
			}
			if end := (idx + 1) * bs; end > n.size {
				if err := c.store.ReadBlock(n.id, idx, buf); err != nil {
					errs = append(errs, fmt.Errorf("cow: overlay: node %d: %w", n.id, err))
				} else if !isZero(buf[n.size-idx*bs:]) {
					errs = append(errs, fmt.Errorf("cow: overlay: node %d: block %d holds bytes past size %d", n.id, idx, n.size))
				}
			}
		}
	}
	errs = append(errs, c.checkFollowers(live)...)
	if _, got := c.store.Usage(); got != blocks {
		errs = append(errs, fmt.Errorf("cow: overlay: store holds %d blocks, nodes name %d", got, blocks))
	}
	return errors.Join(errs...)
}

// checkEmpty verifies that a writer's copier half holds nothing.
func (c *copier) checkEmpty() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, blocks := c.store.Usage()
	if len(c.mu.entries) != 0 || len(c.mu.orphans) != 0 || blocks != 0 {
		return fmt.Errorf("cow: writer holds overlay state (%d entries, %d orphans, %d blocks)", len(c.mu.entries), len(c.mu.orphans), blocks)
	}
	return nil
}
