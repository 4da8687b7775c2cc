package vfs

import (
	"bytes"
	"maps"
	"math"
	"time"
)

// nsChange sets the entry name of dir to node, or removes it if node is
// nil.
type nsChange struct {
	dir  *memNode
	name string
	node *memNode
	// gone is the directory that this change removes for good (Remove of
	// an empty directory), if any. Once the change is durable, no crash can
	// bring gone back, and its own pending changes are dropped.
	gone *memNode
}

// nsOp is one namespace change not yet made durable: a creation, a
// removal, or a rename (two nsChanges that survive a crash together).
type nsOp struct {
	seq     uint64
	changes []nsChange
	// deps are the changes that must survive for this one to survive: for
	// each name it changes, the previous uncommitted change of that name.
	// A rename's dependency on the change that put the renamed node at
	// its old name is one of them.
	deps      []*nsOp
	committed bool // durable: applied to the synced entries
}

// change applies the changes to the current entries as one namespace
// operation and records it as pending, with m.mu held.
func (m *MemFS) change(changes ...nsChange) {
	op := &nsOp{seq: m.seq.Add(1), changes: changes}
	for _, c := range changes {
		if prev := c.dir.last[c.name]; prev != nil {
			op.deps = append(op.deps, prev)
		}
		c.dir.last[c.name] = op
		if c.node == nil {
			delete(c.dir.entries, c.name)
		} else {
			c.dir.entries[c.name] = c.node
		}
		c.dir.dirTime = time.Now()
	}
	m.mu.pending = append(m.mu.pending, op)
}

// syncDir commits every pending change of d's entries, with their
// dependencies, and compacts the log. m.mu is held.
func (m *MemFS) syncDir(d *memNode) {
	var stack []*nsOp
	for _, op := range m.mu.pending {
		if op.committed || !op.touches(d) {
			continue
		}
		// Commit op after its dependencies, depth first.
		stack = append(stack[:0], op)
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.committed {
				stack = stack[:len(stack)-1]
				continue
			}
			ready := true
			for _, dep := range top.deps {
				if !dep.committed {
					stack = append(stack, dep)
					ready = false
				}
			}
			if !ready {
				continue
			}
			stack = stack[:len(stack)-1]
			top.commit()
		}
	}
	// Changes in dead directories cannot matter to any crash: count them
	// as durable, so that dependents need not wait for them, and drop
	// them. A directory removed from a dead one is dead too, so repeat
	// until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, op := range m.mu.pending {
			if !op.committed && op.inDeadDirs() {
				op.commit()
				changed = true
			}
		}
	}
	live := m.mu.pending[:0]
	for _, op := range m.mu.pending {
		if !op.committed {
			live = append(live, op)
		}
	}
	clear(m.mu.pending[len(live):])
	m.mu.pending = live
}

// touches reports whether op changes an entry of d.
func (op *nsOp) touches(d *memNode) bool {
	for _, c := range op.changes {
		if c.dir == d {
			return true
		}
	}
	return false
}

// commit applies op to the synced entries. Its dependencies are committed.
func (op *nsOp) commit() {
	for _, c := range op.changes {
		if c.node == nil {
			delete(c.dir.synced, c.name)
		} else {
			c.dir.synced[c.name] = c.node
		}
		if c.gone != nil {
			c.gone.dead = true
		}
		if c.dir.last[c.name] == op {
			delete(c.dir.last, c.name)
		}
	}
	op.committed, op.deps = true, nil
}

// inDeadDirs reports whether every change of op is in a directory whose
// removal is durable.
func (op *nsOp) inDeadDirs() bool {
	for _, c := range op.changes {
		if !c.dir.dead {
			return false
		}
	}
	return true
}

// CrashOptions configures CrashClone.
type CrashOptions struct {
	// Seed selects which unsynced changes survive. The same seed on the
	// same history gives the same result.
	Seed int64
	// KeepUnsynced is the probability that each unsynced change survives,
	// from 0 (none survives) to 1 (all survive). Values outside [0, 1] are
	// clamped; NaN counts as 0.
	KeepUnsynced float64
}

// CrashClone returns the state that m could come back with after a power
// loss now, as a new, fully synced MemFS. m itself is unchanged.
//
// What survives:
//
//  1. A file's content as of its last Sync or SyncData always survives.
//     Each later WriteAt and Truncate (Open with os.O_TRUNC counts as one)
//     survives independently with probability KeepUnsynced; the survivors
//     are applied to the synced content in their original order. So a
//     write that was not synced may be lost, or kept while an earlier one is
//     lost, but never torn.
//  2. A directory's entries as of its last SyncDir always survive. Each
//     later namespace change (a creation by Open or Lock, a MkdirAll of one
//     directory, a Remove, a Rename, each removal done by RemoveAll)
//     survives with probability KeepUnsynced, if the changes it depends on
//     survive. A change depends on the previous change of each name it
//     touches, so the history of every name survives up to some point,
//     and a rename survives or is lost as a whole, in both directories.
//  3. SyncDir(d) makes every change of d's entries durable, together with
//     the changes they depend on, even in other directories: syncing the
//     target directory of a rename also makes the removal of the old name
//     durable.
//  4. The root directory always survives. Any other file or directory
//     survives only if a surviving entry reaches it from the root. A file created and synced in a directory whose entry
//     was never synced may be lost with all its data. A file that was
//     removed survives only if its removal is lost. No file or directory
//     ever ends up under two names.
//  5. Open files, locks and Stats do not survive; the clone starts with
//     none.
//
// The coin of each change is drawn from Seed and the change's position in
// m's history, so CrashClone is deterministic for a given seed and history.
// The clone is fully synced: crashing it again changes nothing.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	p := opts.KeepUnsynced
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	keep := func(seq uint64) bool {
		return p >= 1 || (p > 0 && coin(opts.Seed, seq) < p)
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	// Decide the namespace changes in history order, so that a change's
	// dependencies are decided before it.
	kept := make(map[*nsOp]bool)
	byDir := make(map[*memNode][]nsChange)
	for _, op := range m.mu.pending {
		if op.committed || !keep(op.seq) {
			continue
		}
		ok := true
		for _, dep := range op.deps {
			if !dep.committed && !kept[dep] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		kept[op] = true
		for _, c := range op.changes {
			byDir[c.dir] = append(byDir[c.dir], c)
		}
	}

	clones := make(map[*memNode]*memNode)
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c := clones[n]; c != nil {
			return c
		}
		c := &memNode{mode: n.mode}
		clones[n] = c
		if n.isDir() {
			entries := maps.Clone(n.synced)
			for _, ch := range byDir[n] {
				if ch.node == nil {
					delete(entries, ch.name)
				} else {
					entries[ch.name] = ch.node
				}
			}
			c.entries = make(map[string]*memNode, len(entries))
			for name, child := range entries {
				c.entries[name] = clone(child)
			}
			c.synced = maps.Clone(c.entries)
			c.last = make(map[string]*nsOp)
			c.dirTime = n.dirTime
			return c
		}
		n.data.RLock()
		buf := bytes.Clone(n.data.synced)
		for i := range n.data.pending {
			if op := &n.data.pending[i]; keep(op.seq) {
				buf = op.apply(buf)
			}
		}
		c.data.modTime = n.data.modTime
		n.data.RUnlock()
		c.data.buf = buf
		c.data.synced = bytes.Clone(buf)
		return c
	}

	cm := NewMem()
	cm.mu.root = clone(m.mu.root)
	return cm
}

// coin returns a number in [0, 1) drawn from seed and seq: the value of
// SplitMix64 at position seq of the stream seed.
func coin(seed int64, seq uint64) float64 {
	z := uint64(seed) + seq*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
