package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
)

// Check verifies m's invariants and returns every violation found, joined:
// the namespace is a tree in which every file and directory has one name;
// each directory's synced entries, with its pending changes replayed in
// order, equal its current entries; each file's synced content, with its
// pending writes replayed, equals its current content; the pending logs are
// in history order and refer only to earlier changes. Tests call it in
// cleanup.
func (m *MemFS) Check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vfs: MemFS.Check: "+format, args...))
	}

	// The pending namespace log.
	byDir := make(map[*memNode][]nsChange)
	index := make(map[*nsOp]int)
	var prev uint64
	for i, op := range m.mu.pending {
		if op.seq <= prev {
			fail("pending change %d has seq %d after %d", i, op.seq, prev)
		}
		prev = op.seq
		index[op] = i
		if op.committed {
			continue
		}
		if len(op.changes) == 0 || len(op.changes) > 2 {
			fail("pending change %d has %d parts", i, len(op.changes))
		}
		for _, dep := range op.deps {
			if dep.committed {
				continue
			}
			if j, ok := index[dep]; !ok || j >= i {
				fail("pending change %d depends on a later or unknown change", i)
			}
		}
		for _, c := range op.changes {
			byDir[c.dir] = append(byDir[c.dir], c)
		}
	}

	// The tree.
	names := make(map[*memNode]string)
	var walk func(n *memNode, name string)
	walk = func(n *memNode, name string) {
		if other, ok := names[n]; ok {
			fail("%q and %q are the same node", other, name)
			return
		}
		names[n] = name
		if !n.isDir() {
			checkFile(n, name, fail)
			return
		}
		if n.dead {
			fail("directory %q is reachable, but its removal is durable", name)
		}
		replayed := maps.Clone(n.synced)
		for _, c := range byDir[n] {
			if c.node == nil {
				delete(replayed, c.name)
			} else {
				replayed[c.name] = c.node
			}
		}
		if !maps.Equal(replayed, n.entries) {
			fail("directory %q: synced entries and pending changes do not give its entries", name)
		}
		for entry, op := range n.last {
			if op.committed || !op.touchesName(n, entry) {
				fail("directory %q: stale last change of %q", name, entry)
			}
		}
		for _, entry := range sortedNames(n.entries) {
			child := n.entries[entry]
			if name != "." {
				entry = name + "/" + entry
			}
			walk(child, entry)
		}
	}
	walk(m.mu.root, ".")
	for n := range m.mu.locked {
		if n.isDir() {
			fail("a directory is locked")
		}
	}
	return errors.Join(errs...)
}

// touchesName reports whether op changes the entry name of d.
func (op *nsOp) touchesName(d *memNode, name string) bool {
	for _, c := range op.changes {
		if c.dir == d && c.name == name {
			return true
		}
	}
	return false
}

// checkFile verifies the invariants of the file n, reporting to fail.
func checkFile(n *memNode, name string, fail func(string, ...any)) {
	d := &n.data
	d.RLock()
	defer d.RUnlock()
	if n.entries != nil || n.synced != nil {
		fail("file %q has directory entries", name)
	}
	if int64(len(d.buf)) > MemMaxFileSize {
		fail("file %q has %d bytes, more than MemMaxFileSize", name, len(d.buf))
	}
	buf := bytes.Clone(d.synced)
	var prev, pendLen uint64
	for i := range d.pending {
		op := &d.pending[i]
		if op.seq <= prev {
			fail("file %q: pending write %d has seq %d after %d", name, i, op.seq, prev)
		}
		prev = op.seq
		pendLen += uint64(len(op.data))
		buf = op.apply(buf)
	}
	if pendLen != uint64(d.pendLen) {
		fail("file %q: pending bytes %d, counted %d", name, pendLen, d.pendLen)
	}
	if !bytes.Equal(buf, d.buf) {
		fail("file %q: synced content and pending writes do not give its content", name)
	}
}
