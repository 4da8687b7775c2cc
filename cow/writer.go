package cow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/holeycow/holeycow/vfs"
)

// maxRounds bounds the stabilize-then-check loop of one mutation. Only a
// stable set that keeps being forgotten (Forget called again and again
// while the mutation waits) can exhaust it.
const maxRounds = 64

// writer is the writer half of a View.
type writer struct {
	v     *View
	batch batcher
	// mu is the writer lock. It guards the fields below and is held across
	// the "is every region stable?" check and the mutation of shared
	// storage that follows, so that no Forget slips in between; it is never
	// held across a Stabilize call.
	mu struct {
		sync.Mutex
		stab    Stabilizer
		guard   Guard
		gen     uint64 // bumped by Forget
		stable  stableSet
		handles map[*file]struct{} // open writer files, whose wpath follows renames
		// dirty holds the directories with namespace changes since the
		// last reset, by their current path: a rename moves the entries
		// of the renamed tree, a removal drops them (a removed directory's
		// changes cannot matter to any crash; its parent is dirty).
		dirty map[string]struct{}
		// sizes caches the size of shared files by path, so that a write
		// or truncate plans without a Size call. Only the writer mutates
		// shared storage, always under this lock: write and truncate keep
		// an entry exact, every other mutation (and any error) drops the
		// entries it may touch. Check compares them with Size.
		sizes map[string]int64
		// scratch backs the regions of one open, write or truncate plan; they
		// are not kept past the mutation.
		scratch [3]Region
		// The holding area (hold.go): hold is Options.HoldRemoved;
		// held the files in it by number, nextHeld the last number
		// given; resets counts ResetCopier calls, holdResets is how many
		// a held file waits for before it is released; holdDir is set
		// once HoldDir is known to exist.
		hold       bool
		held       map[int64]*heldFile
		nextHeld   int64
		resets     uint64
		holdResets uint64
		holdDir    bool
		adopted    bool // the holding area was read (adoptedLocked)
	}
}

func (w *writer) init(v *View) {
	w.v = v
	w.batch.run = w.stabilize
	w.mu.stable.reset()
	w.mu.handles = make(map[*file]struct{})
	w.mu.dirty = make(map[string]struct{})
	w.mu.sizes = make(map[string]int64)
	w.mu.held = make(map[int64]*heldFile)
}

// dropSizes drops the cached sizes of name and of every path under it.
func (w *writer) dropSizes(name string) {
	if name == "." {
		clear(w.mu.sizes)
		return
	}
	for p := range w.mu.sizes {
		if p == name || (len(p) > len(name) && p[len(name)] == '/' && p[:len(name)] == name) {
			delete(w.mu.sizes, p)
		}
	}
}

// sizeLocked returns the size of f's shared file, from the cache when it
// holds f.wpath (which must not be empty).
func (w *writer) sizeLocked(f *file) (int64, error) {
	if size, ok := w.mu.sizes[f.wpath]; ok {
		return size, nil
	}
	size, err := f.sh.Size()
	if err != nil {
		return 0, err
	}
	w.mu.sizes[f.wpath] = size
	return size, nil
}

// stabilize is the batcher's call: one Stabilize for a batch. On success
// it records the regions stable, unless the stable set was forgotten
// meanwhile: a copier that joined or reset during the call may not have
// preserved them.
func (w *writer) stabilize(ctx context.Context, regions []Region) error {
	w.mu.Lock()
	gen, s := w.mu.gen, w.mu.stab
	// A batch is collected while the previous one is in flight: drop
	// what that one made stable meanwhile (invariant 3).
	regions = w.unstableLocked(regions)
	w.mu.Unlock()
	if len(regions) == 0 {
		return nil
	}
	if s == nil {
		return errors.New("cow: writer has no Stabilizer")
	}
	w.v.stabilizeCalls.Add(1)
	w.v.regionsStabilized.Add(int64(len(regions)))
	w.v.log.Debug("cow: stabilize", "regions", len(regions), "first", regions[0].String())
	if err := s.Stabilize(ctx, regions); err != nil {
		w.v.log.Warn("cow: stabilize failed", "regions", len(regions), "err", err)
		return err
	}
	w.mu.Lock()
	w.releasedLocked(regions)
	if w.mu.gen == gen {
		// v.bs is written with both rmu and w.mu held, and SetBlockSize
		// bumps gen, so a batch never records with a stale block size.
		w.mu.stable.record(regions, w.v.bs)
	}
	w.mu.Unlock()
	return nil
}

// mutate runs fn, a mutation of shared storage, once every region that
// plan returns is stable. plan and fn run with the writer lock held; fn
// runs right after plan, so the regions match the state fn mutates.
func (v *View) mutate(op, name string, plan func() ([]Region, error), fn func() error) error {
	w := &v.w
	ctx := context.Background()
	for range maxRounds {
		w.mu.Lock()
		regions, err := plan()
		if err != nil {
			w.mu.Unlock()
			return pathErr(op, name, err)
		}
		var missing []Region
		if !w.mu.stable.covers(regions, v.bs) {
			missing = w.unstableLocked(regions)
		}
		if len(missing) == 0 {
			if g := w.mu.guard; g != nil {
				if err := g(ctx); err != nil {
					w.mu.Unlock()
					return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("cow: guard refused the mutation: %w", err)}
				}
			}
			err := fn()
			w.mu.Unlock()
			return err
		}
		w.mu.Unlock()
		if err := w.batch.do(ctx, missing); err != nil {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %w", ErrStabilize, err)}
		}
	}
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: stable set forgotten %d times during one mutation", ErrBusy, maxRounds)}
}

// Forget forgets the stable set: every region will be stabilized again
// before its next mutation. Call it when a copier joins or resets (Reset
// does it through ResetCopier). It does not wait for mutations in flight;
// use ResetCopier for a new view that must be a prefix of the writer's
// mutation sequence. A copier ignores Forget.
func (v *View) Forget() {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter {
		v.log.Warn("cow: Forget called on a copier")
		return
	}
	v.w.mu.Lock()
	v.w.forgetLocked()
	v.w.mu.Unlock()
}

func (w *writer) forgetLocked() {
	w.mu.gen++
	w.mu.stable.reset()
	// A promotion starts and a failed one ends here: another writer may
	// have changed shared storage meanwhile.
	clear(w.mu.sizes)
}

// Unread reports whether no copier of the current generation reads the
// shared file at name: the writer created it (or renamed it there whole)
// since every copier last reset or joined, or every copier preserved it
// whole. Overwriting, truncating, renaming or removing such a file costs
// no stability round and no overlay byte until a copier resets or joins.
// It is a hint, true until then: for an engine adapter that may either
// reuse a file in place or write a new one (pebblevfs's ReuseForWrite). A
// copier returns false.
func (v *View) Unread(name string) bool {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter || vfs.CheckPath("unread", name) != nil {
		return false
	}
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	return v.w.mu.stable.covers([]Region{{Kind: KindFile, Path: name}}, v.bs)
}

// HoldsRemoved reports whether the view is a writer with
// Options.HoldRemoved: removing or renaming a file that copiers still read
// copies nothing. An adapter that weighs reusing a file against writing a
// new one and removing the old (pebblevfs) asks it with Unread: without
// holds, the removal would copy the old file whole anyway.
func (v *View) HoldsRemoved() bool {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter {
		return false
	}
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	return v.w.mu.hold
}

// ResetCopier implements ResetHandshake: it waits for the mutation in
// flight, holds off new ones, syncs every open file and every directory
// changed since the last reset, forgets the stable set, calls drop, and
// lets mutations resume. If the sync fails, drop is not called and the
// error is returned. A copier returns an error wrapping ErrNotWriter.
func (v *View) ResetCopier(ctx context.Context, drop func() error) error {
	ctx = orBackground(ctx)
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter {
		return &fs.PathError{Op: "resetcopier", Path: ".", Err: ErrNotWriter}
	}
	if drop == nil {
		return &fs.PathError{Op: "resetcopier", Path: ".", Err: fs.ErrInvalid}
	}
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: "resetcopier", Path: ".", Err: err}
	}
	w := &v.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.syncLocked(); err != nil {
		return &fs.PathError{Op: "resetcopier", Path: ".", Err: fmt.Errorf("cow: sync shared storage: %w", err)}
	}
	w.forgetLocked()
	w.mu.resets++
	return drop()
}

// syncLocked syncs open writable files and the directories changed since
// the last call. A dirty directory that is no longer one means that the
// tracking missed a change (shared storage changed behind the writer's
// back): it then syncs every directory, so that nothing is lost, and
// never fails for good.
func (w *writer) syncLocked() error {
	for f := range w.mu.handles {
		if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 || f.wpath == "" {
			continue // read-only, or removed: nothing to make durable
		}
		if err := f.sh.Sync(); err != nil {
			return err
		}
	}
	dirs := make([]string, 0, len(w.mu.dirty))
	for d := range w.mu.dirty {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		err := w.v.shared.SyncDir(d)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) {
			w.v.log.Warn("cow: a changed directory is gone; syncing every directory", "dir", d, "err", err)
			err = vfs.SyncTree(w.v.shared, ".", false)
		}
		if err != nil {
			return err
		}
		delete(w.mu.dirty, d)
	}
	return nil
}

// moveDirty makes the dirty directories at or below oldname follow a
// rename to newname; newname "" drops them (a removal).
func (w *writer) moveDirty(oldname, newname string) {
	for d := range w.mu.dirty {
		if d != oldname && !strings.HasPrefix(d, oldname+"/") {
			continue
		}
		delete(w.mu.dirty, d)
		if newname != "" {
			w.mu.dirty[newname+d[len(oldname):]] = struct{}{}
		}
	}
}

// SetStabilizer replaces the Stabilizer (for example an in-process Direct by
// a networked one). Regions already stable stay stable; call Forget if the
// new Stabilizer reaches copiers the old one did not. A copier ignores it.
func (v *View) SetStabilizer(s Stabilizer) {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleWriter {
		v.log.Warn("cow: SetStabilizer called on a copier")
		return
	}
	v.w.mu.Lock()
	v.w.mu.stab = s
	v.w.mu.Unlock()
}

// SetGuard replaces the Guard; nil removes it. It takes effect for the
// next mutation. A copier keeps it for the day it is promoted.
func (v *View) SetGuard(g Guard) {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	v.w.mu.Lock()
	v.w.mu.guard = g
	v.w.mu.Unlock()
}

// statShared stats name on shared storage; absent reports a missing file
// (or a missing or non-directory parent) without error.
func (v *View) statShared(name string) (fi fs.FileInfo, absent bool, err error) {
	fi, err = v.shared.Stat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) {
		return nil, true, nil
	}
	return fi, false, err
}

// statTarget stats name, the target of a mutation that creates it: absent
// reports a missing file, and a parent that is not a directory is an error
// (vfs.ErrNotDir), so that a mutation bound to fail asks copiers to
// preserve nothing (a whiteout under a file would make a copier report
// not-exist where the path is not a directory).
func (v *View) statTarget(name string) (fi fs.FileInfo, absent bool, err error) {
	fi, err = v.shared.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	return fi, false, err
}

// treeRegions is what removing name (a file or a directory tree on shared
// storage) needs: KindFile for every file, KindMeta for every directory.
func (v *View) treeRegions(name string, fi fs.FileInfo, out []Region) ([]Region, error) {
	if !fi.IsDir() {
		return append(out, Region{Kind: KindFile, Path: name}), nil
	}
	out = append(out, Region{Kind: KindMeta, Path: name})
	names, err := v.shared.List(name)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		child := path.Join(name, n)
		cfi, absent, err := v.statShared(child)
		if err != nil {
			return nil, err
		}
		if absent {
			continue
		}
		if out, err = v.treeRegions(child, cfi, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// createdLocked records name, a file the writer has just created where
// the stable set held its absence (or more: KindMeta or KindFile), as
// stable as a whole. Every copier of the current generation preserved
// that region after the file it could see there, if any, was gone: it
// holds a whiteout there, or the whole old file, or its own file, and
// never reads this shared file. So the file's blocks, size and existence
// need no round until the stable set is forgotten (a copier that joins or
// resets afterwards sees the file). (KindMeta recorded while name held a
// file proves the absence too: that file could only go by a Remove or a
// Rename, which make it stable as a whole first; recorded while name held
// a directory, every copier holds its own entry for it.)
func (w *writer) createdLocked(name string) {
	w.mu.stable.record([]Region{{Kind: KindFile, Path: name}}, w.v.bs)
}

func (w *writer) markDirty(name string) {
	w.mu.dirty[vfs.Dir(name)] = struct{}{}
}

func (v *View) wOpen(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f := &file{v: v, name: name, flag: flag}
	mutating := flag&(os.O_CREATE|os.O_TRUNC) != 0
	creates := false // the last plan found name absent, to be created
	plan := func() ([]Region, error) {
		creates = false
		if !mutating {
			return nil, nil
		}
		// Everything the open could need, already stable (a journal
		// reopened every commit): no need to stat. The whole file
		// stable covers any open; its size alone covers a create that
		// finds the file (its size cached: it exists), but a create
		// that may make the file must learn whether it does, for the
		// file is then stable as a whole (createdLocked).
		st := &v.w.mu.stable
		rs := append(v.w.mu.scratch[:0], Region{Kind: KindFile, Path: name})
		if st.covers(rs, v.bs) {
			return nil, nil
		}
		if flag&os.O_TRUNC == 0 {
			rs[0].Kind = KindMeta
			if _, exists := v.w.mu.sizes[name]; exists && st.covers(rs, v.bs) {
				return nil, nil
			}
		}
		fi, absent, err := v.statTarget(name)
		switch {
		case err != nil:
			return nil, err
		case absent && flag&os.O_CREATE != 0:
			creates = true
			return []Region{{Kind: KindMeta, Path: name}}, nil
		case absent || fi.IsDir():
			return nil, nil // Open fails
		case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
			return nil, nil // Open fails with ErrExist
		case flag&os.O_TRUNC != 0 && fi.Size() > 0:
			return []Region{{Kind: KindFile, Path: name}}, nil
		}
		return nil, nil
	}
	open := func() error {
		v.w.dropSizes(name) // O_TRUNC or O_CREATE may change it
		sh, err := v.shared.Open(name, flag, perm)
		if err != nil {
			return err
		}
		f.sh = sh
		f.wpath = name
		v.w.mu.handles[f] = struct{}{}
		if flag&os.O_CREATE != 0 {
			v.w.markDirty(name)
		}
		if creates {
			v.w.createdLocked(name)
		}
		return nil
	}
	if !mutating {
		v.w.mu.Lock()
		err := open()
		v.w.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	if err := v.mutate("open", name, plan, open); err != nil {
		return nil, err
	}
	return f, nil
}

func (v *View) wRemove(name string) error {
	w := &v.w
	var held int64 // the number this call holds the file under, once given
	hold := false  // the last plan holds the file rather than remove it
	plan := func() ([]Region, error) {
		hold = false
		if err := w.adoptedLocked(); err != nil {
			return nil, err
		}
		// Collect the held files due, in the same round.
		rs := w.appendReleasesLocked(nil, false)
		fi, absent, err := v.statShared(name)
		if err != nil || absent {
			return rs, err
		}
		if fi.IsDir() {
			return append(rs, Region{Kind: KindMeta, Path: name}), nil
		}
		whole := Region{Kind: KindFile, Path: name}
		if !w.holdableLocked(name) || w.mu.stable.covers([]Region{whole}, v.bs) {
			// No copier reads it (created in this generation, or
			// preserved already): nothing to hold.
			return append(rs, whole), nil
		}
		if held == 0 {
			w.mu.nextHeld++
			held = w.mu.nextHeld
		}
		hold = true
		return append(rs, Region{Kind: KindHold, Path: name, Off: held}), nil
	}
	return v.mutate("remove", name, plan, func() error {
		v.w.dropSizes(name)
		defer w.collectLocked()
		var err error
		if hold {
			err = w.holdLocked(name, held)
		} else {
			err = v.shared.Remove(name)
		}
		if err != nil {
			return err
		}
		for f := range v.w.mu.handles {
			if f.wpath == name {
				f.wpath = "" // orphan: no copier can see it any more
			}
		}
		v.w.moveDirty(name, "")
		v.w.markDirty(name)
		return nil
	})
}

func (v *View) wRename(oldname, newname string) error {
	w := &v.w
	var files []string        // the files the last plan moves, by their old paths
	var moves map[string]bool // those of them that copiers follow (KindMove)
	plan := func() ([]Region, error) {
		files = files[:0]
		clear(moves)
		if oldname == newname {
			return nil, nil
		}
		ofi, absent, err := v.statShared(oldname)
		if err != nil || absent {
			return nil, err
		}
		nfi, absent, err := v.statTarget(newname)
		if err != nil {
			return nil, err
		}
		// The file replaced first: a copier takes it whole before its
		// nodes that follow a moved file start matching its path.
		var rs []Region
		if !absent {
			if rs, err = v.treeRegions(newname, nfi, rs); err != nil {
				return nil, err
			}
		}
		olds, err := v.treeRegions(oldname, ofi, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range olds {
			// Every path the rename makes appear must be preserved as
			// absent: a directory's entries appear under the new name
			// without being created one by one.
			to := newname + r.Path[len(oldname):]
			rs = append(rs, Region{Kind: KindMeta, Path: to})
			if r.Kind == KindFile {
				files = append(files, r.Path)
				// A file some copier still reads moves with its
				// readers: they follow it rather than copy it.
				if w.mu.hold && !w.mu.stable.covers([]Region{r}, v.bs) {
					if moves == nil {
						moves = make(map[string]bool)
					}
					moves[r.Path] = true
					r = Region{Kind: KindMove, Path: r.Path, To: to}
				}
			}
			rs = append(rs, r)
		}
		return rs, nil
	}
	return v.mutate("rename", oldname, plan, func() error {
		w.dropSizes(oldname)
		w.dropSizes(newname)
		if err := v.shared.Rename(oldname, newname); err != nil {
			return err
		}
		if oldname == newname {
			return nil
		}
		for f := range w.mu.handles {
			switch {
			case f.wpath == newname || strings.HasPrefix(f.wpath, newname+"/"):
				f.wpath = "" // replaced
			}
		}
		for f := range w.mu.handles {
			switch {
			case f.wpath == oldname:
				f.wpath = newname
			case strings.HasPrefix(f.wpath, oldname+"/"):
				f.wpath = newname + f.wpath[len(oldname):]
			}
		}
		w.moveDirty(newname, "") // replaced (only a file can be)
		w.moveDirty(oldname, newname)
		w.markDirty(oldname)
		w.markDirty(newname)
		for _, p := range files {
			to := newname + p[len(oldname):]
			if moves[p] {
				// Its readers followed it: what was stable for it
				// stays so at its new path (stableSet.moved).
				w.mu.stable.moved(p, to)
				continue
			}
			// It lands where every copier preserved the absence, or
			// the whole file it replaces, and holds it whole itself
			// (or never saw it): as for a create, no copier reads it
			// there (createdLocked).
			w.createdLocked(to)
		}
		return nil
	})
}

func (v *View) wMkdirAll(dir string, perm fs.FileMode) error {
	plan := func() ([]Region, error) {
		var rs []Region
		for _, p := range prefixes(dir) {
			fi, absent, err := v.statTarget(p)
			if err != nil {
				return nil, err
			}
			if absent {
				rs = append(rs, Region{Kind: KindMeta, Path: p})
			} else if !fi.IsDir() {
				return nil, vfs.ErrNotDir // MkdirAll fails here
			}
		}
		return rs, nil
	}
	return v.mutate("mkdirall", dir, plan, func() error {
		err := v.shared.MkdirAll(dir, perm)
		for _, p := range prefixes(dir) {
			if err != nil {
				// A failed MkdirAll may have created the first
				// directories: mark the parents of those that exist.
				if fi, serr := v.shared.Stat(p); serr != nil || !fi.IsDir() {
					break
				}
			}
			v.w.markDirty(p)
		}
		return err
	})
}

func (v *View) wLock(name string) (io.Closer, error) {
	var c io.Closer
	creates := false // the last plan found name absent: Lock creates it
	plan := func() ([]Region, error) {
		_, absent, err := v.statTarget(name)
		creates = err == nil && absent
		if !creates {
			return nil, err
		}
		return []Region{{Kind: KindMeta, Path: name}}, nil
	}
	err := v.mutate("lock", name, plan, func() error {
		var err error
		v.w.dropSizes(name)
		c, err = v.shared.Lock(name)
		if err != nil {
			return err // nothing changed
		}
		v.w.markDirty(name)
		if creates {
			v.w.createdLocked(name)
		}
		return nil
	})
	return c, err
}

// wWriteAt writes through a writer file.
func (v *View) wWriteAt(f *file, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return f.sh.WriteAt(p, off)
	}
	var n int
	plan := func() ([]Region, error) {
		if f.wpath == "" {
			return nil, nil
		}
		size, err := v.w.sizeLocked(f)
		if err != nil {
			return nil, err
		}
		rs := appendWriteRegions(v.w.mu.scratch[:0], f.wpath, off, int64(len(p)), size, v.bs)
		rs = v.w.seqAheadLocked(rs, f, off, int64(len(p)), size, v.bs)
		return v.w.appendAheadLocked(rs, f.wpath, off+int64(len(p)), size, v.bs), nil
	}
	err := v.mutate("write", f.name, plan, func() error {
		var err error
		n, err = f.sh.WriteAt(p, off)
		f.wend = off + int64(n)
		if f.wpath == "" {
			return err
		}
		if size, ok := v.w.mu.sizes[f.wpath]; ok && err == nil && n == len(p) {
			v.w.mu.sizes[f.wpath] = max(size, off+int64(n))
		} else {
			delete(v.w.mu.sizes, f.wpath)
		}
		return err
	})
	return n, err
}

// appendAhead is how many blocks past its end an append that needs a
// round anyway takes along (appendAheadLocked).
const appendAhead = 256

// appendAheadLocked adds to rs, the regions of a write ending at end in a
// file of the given size, the blocks from the old last partial block to
// appendAhead blocks past end, if the write extends the file from an
// unaligned size and that partial block is not stable yet: a round is due
// anyway, and the next appends (a SQLite WAL's frames of a page and 24
// bytes, never aligned) then find their blocks stable instead of needing
// a round each. The blocks past the size cost a copier nothing: a
// copier's view of the file is pinned at or below the size (the file's
// KindMeta region comes with every write that grows it), and it reads
// zeros past that limit, never shared storage; a copier that has not
// pinned the file yet pins it at this size when it preserves these
// regions.
func (w *writer) appendAheadLocked(rs []Region, p string, end, size, bs int64) []Region {
	if end <= size || size%bs == 0 {
		return rs
	}
	partial := [1]Region{blockRegion(p, size, size+1, bs)}
	if w.mu.stable.covers(partial[:], bs) {
		return rs
	}
	return append(rs, blockRegion(p, size, end+appendAhead*bs, bs))
}

// seqAhead is how many blocks past a sequential write inside the file
// the round it needs takes along (seqAheadLocked).
const seqAhead = 64

// seqAheadLocked adds to rs, the regions of a write of n bytes at off
// through f in a file of the given size, the blocks from off to seqAhead
// blocks past the write (up to the size), if the write continues the
// previous write through f, is not block-aligned (records of a log, not
// the pages of a database: a commit writing a few adjacent pages must not
// make copiers preserve the 64 pages after them), overwrites the file
// and finds a block it overwrites not stable: a round is due anyway, and a sequential overwrite (a SQLite
// WAL restarting from its start after a checkpoint, once a copier reset
// made every block unstable again) then needs a round per seqAhead blocks
// instead of one per block. Copiers preserve these blocks as they would
// one by one; at most seqAhead blocks too many at the end of a run.
func (w *writer) seqAheadLocked(rs []Region, f *file, off, n, size, bs int64) []Region {
	if off == 0 || off != f.wend || off >= size || (off%bs == 0 && n%bs == 0) {
		return rs
	}
	inPlace := [1]Region{blockRegion(f.wpath, off, min(off+n, size), bs)}
	if w.mu.stable.covers(inPlace[:], bs) {
		return rs
	}
	return append(rs, blockRegion(f.wpath, off, min(size, off+n+seqAhead*bs), bs))
}

// wSize is the size of a writer file, from the writer's cache when it
// can be.
func (v *View) wSize(f *file) (int64, error) {
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	if f.wpath == "" {
		return f.sh.Size()
	}
	return v.w.sizeLocked(f)
}

// wTruncate truncates through a writer file.
func (v *View) wTruncate(f *file, size int64) error {
	plan := func() ([]Region, error) {
		if f.wpath == "" {
			return nil, nil
		}
		old, err := v.w.sizeLocked(f)
		if err != nil {
			return nil, err
		}
		return appendTruncateRegions(v.w.mu.scratch[:0], f.wpath, old, size, v.bs), nil
	}
	return v.mutate("truncate", f.name, plan, func() error {
		err := f.sh.Truncate(size)
		if f.wpath == "" {
			return err
		}
		if err == nil {
			v.w.mu.sizes[f.wpath] = size
		} else {
			delete(v.w.mu.sizes, f.wpath)
		}
		return err
	})
}

// prefixes returns "a", "a/b", "a/b/c" for "a/b/c"; nothing for ".".
func prefixes(name string) []string {
	if name == "." {
		return nil
	}
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return append(out, name)
}

// check verifies the writer's invariants.
func (w *writer) check(bs int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	errs = append(errs, w.mu.stable.check())
	for f := range w.mu.handles {
		if f.sh == nil {
			errs = append(errs, fmt.Errorf("cow: writer file %s has no shared file", f.name))
			continue
		}
		if f.wpath == "" {
			continue
		}
		if cached, ok := w.mu.sizes[f.wpath]; ok {
			if size, err := f.sh.Size(); err == nil && size != cached {
				errs = append(errs, fmt.Errorf("cow: writer caches size %d for %s, which has %d", cached, f.wpath, size))
			}
		}
	}
	for n := range w.mu.held {
		if fi, err := w.v.shared.Stat(HeldPath(n)); err != nil || fi.IsDir() {
			errs = append(errs, fmt.Errorf("cow: held file %d is not on shared storage: %v", n, err))
		}
		if n > w.mu.nextHeld {
			errs = append(errs, fmt.Errorf("cow: held file %d is past the last number given, %d", n, w.mu.nextHeld))
		}
	}
	return errors.Join(errs...)
}

// checkEmpty verifies that a copier's writer half holds nothing.
func (w *writer) checkEmpty() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.stable.n != 0 || len(w.mu.handles) != 0 || len(w.mu.sizes) != 0 {
		return fmt.Errorf("cow: copier holds writer state (%d stable regions, %d files, %d sizes)", w.mu.stable.n, len(w.mu.handles), len(w.mu.sizes))
	}
	return nil
}
