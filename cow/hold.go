package cow

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/holeycow/holeycow/vfs"
)

// HoldDir is the holding area: a directory at the root of shared storage
// where a writer with Options.HoldRemoved moves the files it removes,
// instead of deleting them, for as long as a copier may still read them.
// The views keep the name for themselves: it is never listed, and any
// call naming it, or a path below it, fails with ErrReserved.
const HoldDir = ".holeycow-held"

// HeldPath returns the shared path of held file number n.
func HeldPath(n int64) string { return HoldDir + "/" + strconv.FormatInt(n, 10) }

// heldNumber parses the base name of a held file.
func heldNumber(base string) (int64, bool) {
	n, err := strconv.ParseInt(base, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != base {
		return 0, false
	}
	return n, true
}

// reserved reports whether name is the holding area or a path below it.
func reserved(name string) bool {
	return name == HoldDir || strings.HasPrefix(name, HoldDir+"/")
}

// checkReserved refuses a path in the holding area.
func checkReserved(op, name string) error {
	if reserved(name) {
		return &fs.PathError{Op: op, Path: name, Err: ErrReserved}
	}
	return nil
}

// dropReserved removes the holding area from a listing of the root.
func dropReserved(dir string, names []string) []string {
	if dir != "." {
		return names
	}
	return slices.DeleteFunc(names, func(n string) bool { return n == HoldDir })
}

// heldFile is the writer's record of a file in the holding area.
type heldFile struct {
	resets   uint64 // the writer's ResetCopier count when the file was held
	released bool   // every copier has acknowledged its KindRelease
}

// holdableLocked reports whether the file at name can be held rather than
// preserved as a whole: the option is on and no writer file open for
// writing names it (a write through that file would change the held
// bytes that copiers read, with no round).
func (w *writer) holdableLocked(name string) bool {
	if !w.mu.hold {
		return false
	}
	for f := range w.mu.handles {
		if f.wpath == name && f.flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return false
		}
	}
	return true
}

// appendReleasesLocked appends a KindRelease for every held file due for
// collection (all of them with all) and not yet released: a file held
// before the last holdResets ResetCopier calls.
func (w *writer) appendReleasesLocked(rs []Region, all bool) []Region {
	var due []int64
	for n, h := range w.mu.held {
		if !h.released && (all || w.mu.resets >= h.resets+w.mu.holdResets) {
			due = append(due, n)
		}
	}
	slices.Sort(due)
	for _, n := range due {
		rs = append(rs, Region{Kind: KindRelease, Path: HeldPath(n), Off: n})
	}
	return rs
}

// unstableLocked returns the parts of regions that are not stable yet:
// the stable set's missing parts, and the releases of held files not yet
// released.
func (w *writer) unstableLocked(regions []Region) []Region {
	if !slices.ContainsFunc(regions, func(r Region) bool { return r.Kind == KindRelease }) {
		return w.mu.stable.missing(regions, w.v.bs)
	}
	var others, out []Region
	for _, r := range regions {
		if r.Kind != KindRelease {
			others = append(others, r)
			continue
		}
		if h := w.mu.held[r.Off]; h != nil && !h.released && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return append(w.mu.stable.missing(others, w.v.bs), out...)
}

// releasedLocked records the releases among regions, which every copier
// has acknowledged. A release holds whatever the generation: a copier
// that joined or reset since the file was held never reads it.
func (w *writer) releasedLocked(regions []Region) {
	for _, r := range regions {
		if r.Kind == KindRelease {
			if h := w.mu.held[r.Off]; h != nil {
				h.released = true
			}
		}
	}
}

// holdLocked moves the file at name to held file n, creating the holding
// area if needed.
func (w *writer) holdLocked(name string, n int64) error {
	if !w.mu.holdDir {
		if err := w.v.shared.MkdirAll(HoldDir, 0o755); err != nil {
			return err
		}
		w.mu.holdDir = true
		w.markDirty(HoldDir)
	}
	if err := w.v.shared.Rename(name, HeldPath(n)); err != nil {
		return err
	}
	w.mu.held[n] = &heldFile{resets: w.mu.resets}
	w.markDirty(HeldPath(n))
	return nil
}

// collectLocked deletes the released held files and returns how many. A
// deletion that fails is retried at the next collection.
func (w *writer) collectLocked() int {
	k := 0
	for n, h := range w.mu.held {
		if !h.released {
			continue
		}
		p := HeldPath(n)
		if err := w.v.shared.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.v.log.Warn("cow: collecting a held file", "path", p, "err", err)
			continue
		}
		delete(w.mu.held, n)
		w.markDirty(p)
		k++
	}
	return k
}

// adoptedLocked adopts the holding area once (adoptHeldLocked): before
// the writer's first hold or collection, so that NewWriter does no I/O.
func (w *writer) adoptedLocked() error {
	if w.mu.adopted {
		return nil
	}
	if err := w.adoptHeldLocked(); err != nil {
		return err
	}
	w.mu.adopted = true
	return nil
}

// adoptHeldLocked takes over the files found in the holding area (left by
// an earlier writer: this view restarted or was promoted): they are held
// as of now, and new held files are numbered past them.
func (w *writer) adoptHeldLocked() error {
	names, err := w.v.shared.List(HoldDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	w.mu.holdDir = true
	for _, base := range names {
		n, ok := heldNumber(base)
		if !ok {
			continue // not ours
		}
		if _, ok := w.mu.held[n]; !ok {
			w.mu.held[n] = &heldFile{resets: w.mu.resets}
		}
		w.mu.nextHeld = max(w.mu.nextHeld, n)
	}
	return nil
}

// CollectHeld deletes held files from the holding area once every copier
// has acknowledged their release (copying what it still reads of them,
// which a copier that reset since the file was held does not): those held
// before the last Options.HoldResets resets, or all of them with all. It
// returns how many it deleted. A writer also collects the files due at
// each Remove; CollectHeld is for a writer that removes nothing for a
// while, or that shuts down. A copier returns an error wrapping
// ErrNotWriter.
func (v *View) CollectHeld(ctx context.Context, all bool) (int, error) {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter {
		return 0, &fs.PathError{Op: "collectheld", Path: HoldDir, Err: ErrNotWriter}
	}
	if err := orBackground(ctx).Err(); err != nil {
		return 0, &fs.PathError{Op: "collectheld", Path: HoldDir, Err: err}
	}
	v.w.mu.Lock()
	none := v.w.mu.adopted && len(v.w.appendReleasesLocked(nil, all)) == 0 && !v.w.anyReleasedLocked()
	v.w.mu.Unlock()
	if none {
		return 0, nil
	}
	k := 0
	err := v.mutate("collectheld", HoldDir, func() ([]Region, error) {
		if err := v.w.adoptedLocked(); err != nil {
			return nil, err
		}
		return v.w.appendReleasesLocked(nil, all), nil
	}, func() error {
		k = v.w.collectLocked()
		return nil
	})
	return k, err
}

func (w *writer) anyReleasedLocked() bool {
	for _, h := range w.mu.held {
		if h.released {
			return true
		}
	}
	return false
}

// heldCache holds a copier's read-only handles on held files, by shared
// path: nodes that read a held file share one. Its own lock guards it, as
// reads that hold the copier lock shared open handles concurrently.
type heldCache struct {
	files map[string]vfs.File
}

// heldHandle returns a handle on the held file at p, from the cache. If p
// does not exist yet (the writer has not moved the file there yet: the
// round comes first), it returns fallback's handle, opened by src; if
// that is gone too (the writer moved it meanwhile), it tries p again.
// The writer cannot put another file at fallback without a round, which
// waits for the copier lock that the caller holds.
func (v *View) heldHandle(s *source) (vfs.File, error) {
	c := &v.c
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if h := c.held.files[s.name]; h != nil {
		return h, nil
	}
	var err error
	for try := range 3 {
		p := s.name
		if try == 1 {
			p = s.held
		}
		var h vfs.File
		h, err = v.shared.Open(p, os.O_RDONLY, 0)
		if err == nil {
			if p == s.name {
				if c.held.files == nil {
					c.held.files = make(map[string]vfs.File)
				}
				c.held.files[p] = h
			} else {
				s.own = h
			}
			return h, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// closeHeld closes the cached handle on the held file at p ("" for all).
// Called with c.mu held exclusively.
func (c *copier) closeHeld(p string) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	for q, h := range c.held.files {
		if p == "" || q == p {
			h.Close()
			delete(c.held.files, q)
		}
	}
}

// nodeSource returns the source of n's shared bytes: the held file it was
// told about, or the shared file at name (through f's cached handle when
// f is set).
func (v *View) nodeSource(n *node, name string, f *file) *source {
	if n != nil && n.mv != nil {
		return &source{v: v, name: name, fixed: n.mv.h}
	}
	if n != nil && n.src != "" {
		return &source{v: v, name: n.src, held: n.srcName}
	}
	return &source{v: v, name: name, f: f}
}

// preserveHold is a copier's KindHold: the file it reads at r.Path is
// about to move to held file r.Off, so its node reads it there from now
// on (until the file shows up there, it still reads it at r.Path). A node
// already told of another held file keeps it if that file exists: its
// bytes moved there, and the file now at r.Path is a later one. Called
// with c.mu held exclusively; n is the node at r.Path.
func (v *View) preserveHold(n *node, r Region) error {
	if n.dir || n.limit == 0 {
		return nil
	}
	if n.mv != nil {
		// It follows the file through a handle: the held file is one
		// more place the writer may name it.
		v.c.answer(n, HeldPath(r.Off))
		return nil
	}
	held := HeldPath(r.Off)
	if n.src == held {
		return nil
	}
	if n.src != "" {
		_, err := v.shared.Stat(n.src)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return pathErr("preserve", r.Path, err)
		}
		// The move it was told of never happened (the writer failed):
		// the file is still at its name, and is moving now.
		v.c.closeHeld(n.src)
	}
	n.src, n.srcName = held, r.Path
	return nil
}

// detachReused is the first step of a copier's KindHold, whatever its
// node at r.Path (none, a follower, one that reads no shared byte): a
// node told of this number for another path means that a writer before
// this one gave it, and its move never happened (the writer was fenced
// between round and move); this writer reuses the number. That node's
// file is still at its own path: take it whole now, before another file
// moves to the held path it would read. Called with c.mu held
// exclusively.
func (v *View) detachReused(r Region) error {
	held := HeldPath(r.Off)
	for name, m := range v.c.mu.entries {
		if m != nil && m.src == held && m.srcName != r.Path {
			src := v.nodeSource(m, name, nil)
			err := v.detach(m, src, name)
			src.close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// preserveRelease is a copier's KindRelease: every node that reads held
// file r.Path takes it whole into the overlay. Called with c.mu held
// exclusively.
func (v *View) preserveRelease(r Region) error {
	c := &v.c
	detach := func(name string, n *node) error {
		if n == nil || n.src != r.Path {
			return nil
		}
		src := v.nodeSource(n, name, nil)
		defer src.close()
		return v.detach(n, src, name)
	}
	for name, n := range c.mu.entries {
		if err := detach(name, n); err != nil {
			return err
		}
	}
	for n := range c.mu.orphans {
		if err := detach(r.Path, n); err != nil {
			return err
		}
	}
	c.closeHeld(r.Path)
	return v.preserveFollowers(r, nil)
}

// detachHeld takes every node that reads a held file whole into the
// overlay (Promote: the new writer's files must not depend on the holding
// area). Called with c.mu held exclusively.
func (v *View) detachHeld() error {
	c := &v.c
	for name, n := range c.mu.entries {
		if n != nil && n.src != "" {
			src := v.nodeSource(n, name, nil)
			err := v.detach(n, src, name)
			src.close()
			if err != nil {
				return err
			}
		}
	}
	c.closeHeld("")
	return nil
}

// readsHeld reports whether a node of the copier reads the held file at p
// (for tests).
func (v *View) readsHeld(p string) bool {
	v.c.mu.RLock()
	defer v.c.mu.RUnlock()
	for _, n := range v.c.mu.entries {
		if n != nil && n.src == p {
			return true
		}
	}
	for n := range v.c.mu.orphans {
		if n.src == p {
			return true
		}
	}
	return len(v.c.mu.followers[p]) > 0
}
