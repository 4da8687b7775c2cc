package cow

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/holeycow/holeycow/vfs"
)

// follower is what a copier's node keeps once the writer said that the
// shared file it reads moves (KindMove): a read-only handle on that file,
// opened before the move (vfs.FS: open files follow their file to its new
// name, and stay usable if it is removed), and the shared paths where the
// writer may name the file in later regions: where it was, and every
// place it was said to move to since (a rename, or the holding area). A
// region at one of them makes the node preserve from the handle. Some of
// these paths may no longer hold the file (a move that failed, a later
// file at an old name): preserving for them copies bytes the view still
// reads, which costs space and never changes the view.
type follower struct {
	h     vfs.File
	paths []string
}

// followers indexes the nodes that follow moved files by the shared paths
// they answer to. Guarded by the copier lock.
type followers map[string]map[*node]struct{}

// follow makes n, which reads the shared file at p by name, read it
// through a handle from now on, and answer to p and to. Called with c.mu
// held exclusively.
func (v *View) follow(n *node, p, to string) error {
	h, err := v.shared.Open(p, os.O_RDONLY, 0)
	if err != nil {
		return pathErr("preserve", p, err)
	}
	n.mv = &follower{h: h}
	v.c.answer(n, p)
	v.c.answer(n, to)
	return nil
}

// answer adds p to the paths n answers to.
func (c *copier) answer(n *node, p string) {
	if slices.Contains(n.mv.paths, p) {
		return
	}
	n.mv.paths = append(n.mv.paths, p)
	if c.mu.followers == nil {
		c.mu.followers = make(followers)
	}
	set := c.mu.followers[p]
	if set == nil {
		set = make(map[*node]struct{})
		c.mu.followers[p] = set
	}
	set[n] = struct{}{}
}

// unfollow closes n's handle and drops it from the index: n no longer
// reads the moved file (detached, cut to nothing, or dropped).
func (c *copier) unfollow(n *node) {
	if n.mv == nil {
		return
	}
	for _, p := range n.mv.paths {
		if set := c.mu.followers[p]; set != nil {
			delete(set, n)
			if len(set) == 0 {
				delete(c.mu.followers, p)
			}
		}
	}
	n.mv.h.Close()
	n.mv = nil
}

// unfollowAll closes every follower's handle (Reset, Promote).
func (c *copier) unfollowAll() {
	for _, set := range c.mu.followers {
		for n := range set {
			if n.mv != nil {
				n.mv.h.Close()
				n.mv = nil
			}
		}
	}
	c.mu.followers = nil
}

// followersOf returns the nodes that answer to p, but skip, in a stable
// order.
func (c *copier) followersOf(p string, skip *node) []*node {
	set := c.mu.followers[p]
	if len(set) == 0 {
		return nil
	}
	out := make([]*node, 0, len(set))
	for n := range set {
		if n != skip {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *node) int { return cmp.Compare(a.id, b.id) })
	return out
}

// preserveMove is a copier's KindMove for n, its node at r.Path: if n
// reads the shared file there, it follows the file from now on. A node
// that already follows a file adds r.To to the paths it answers to. A
// node reading a held file keeps it if the file is there; if not (the
// hold it was told of never happened) it reads r.Path, and takes it
// whole now. Called with c.mu held exclusively.
func (v *View) preserveMove(n *node, r Region) error {
	switch {
	case n.dir || n.limit == 0:
		return nil
	case n.mv != nil:
		v.c.answer(n, r.To)
		return nil
	case n.src != "":
		_, err := v.shared.Stat(n.src)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return pathErr("preserve", r.Path, err)
		}
		src := v.nodeSource(n, r.Path, nil)
		defer src.close()
		return v.detach(n, src, r.Path)
	}
	return v.follow(n, r.Path, r.To)
}

// preserveFollowers applies r to the nodes that answer to r.Path, but
// skip (the node at r.Path, which the caller has handled). Called with
// c.mu held exclusively.
func (v *View) preserveFollowers(r Region, skip *node) error {
	for _, n := range v.c.followersOf(r.Path, skip) {
		if n.mv == nil {
			continue // detached by an earlier one
		}
		var err error
		if r.Kind != KindMeta {
			v.followerPreserves.Add(1)
		}
		switch r.Kind {
		case KindBlocks:
			src := v.nodeSource(n, r.Path, nil)
			err = v.preserveBlocks(n, src, r.Off/v.bs, (r.Off+r.Len+v.bs-1)/v.bs, r.Path)
		case KindFile, KindRelease:
			src := v.nodeSource(n, r.Path, nil)
			err = v.detach(n, src, r.Path)
		case KindHold:
			v.c.answer(n, HeldPath(r.Off))
		case KindMove:
			v.c.answer(n, r.To)
		}
		// KindMeta: the node's size is pinned already.
		if err != nil {
			return err
		}
	}
	return nil
}

// detachFollowers takes every node that follows a moved file whole into
// the overlay (Promote: the new writer's files must be on shared storage
// at their own paths). Called with c.mu held exclusively.
func (v *View) detachFollowers() error {
	var all []*node
	for _, set := range v.c.mu.followers {
		for n := range set {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	for _, n := range all {
		if n.mv == nil {
			continue
		}
		src := v.nodeSource(n, n.mv.paths[0], nil)
		if err := v.detach(n, src, n.mv.paths[0]); err != nil {
			return err
		}
	}
	return nil
}

// checkFollowers verifies the index against the nodes. Called with c.mu
// held.
func (c *copier) checkFollowers(live map[*node]bool) []error {
	var errs []error
	for p, set := range c.mu.followers {
		for n := range set {
			switch {
			case !live[n]:
				errs = append(errs, fmt.Errorf("cow: overlay: %s answers for dropped node %d", p, n.id))
			case n.mv == nil || !slices.Contains(n.mv.paths, p):
				errs = append(errs, fmt.Errorf("cow: overlay: %s answers for node %d, which does not follow it", p, n.id))
			}
		}
	}
	for n := range live {
		if n.mv == nil {
			continue
		}
		if n.limit == 0 || n.src != "" || n.dir || len(n.mv.paths) < 2 {
			errs = append(errs, fmt.Errorf("cow: overlay: node %d follows a moved file with limit %d, held %q, %d paths", n.id, n.limit, n.src, len(n.mv.paths)))
		}
		for _, p := range n.mv.paths {
			if _, ok := c.mu.followers[p][n]; !ok {
				errs = append(errs, fmt.Errorf("cow: overlay: node %d answers to %s unindexed", n.id, p))
			}
		}
	}
	return errs
}

// followedLocked counts the nodes that follow a moved file. Called with
// c.mu held.
func (c *copier) followedLocked() int {
	seen := map[*node]bool{}
	for _, set := range c.mu.followers {
		for n := range set {
			seen[n] = true
		}
	}
	return len(seen)
}

// follows reports whether a node of the copier follows a moved file that
// answers to p (for tests).
func (v *View) follows(p string) bool {
	v.c.mu.RLock()
	defer v.c.mu.RUnlock()
	return len(v.c.mu.followers[p]) > 0
}
