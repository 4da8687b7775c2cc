package cow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"

	"github.com/holeycow/holeycow/vfs"
)

// Promote turns a copier into the writer in place. It pushes the overlay to
// shared storage through the writer path, so that every other copier that s
// reaches preserves each region first: whiteouts become removals, overlay
// directories and files are created, sizes set and overlay blocks written.
// Then it syncs, moves open files and held locks onto shared storage, drops
// the overlay and acts as a writer with stabilizer s from then on. Open
// files stay usable and the view does not change (invariant 6: afterwards
// shared storage equals the view byte for byte, and no other copier's view
// changed).
//
// The caller must have fenced the old writer (its Guard refuses) before
// calling Promote, and s must not wait for this view (a Preserve that s
// routes back here returns nil at once). If Promote fails, the view is
// still a consistent copier (pushing never changes its own view) and
// Promote may be retried (a failed Promote may leave temporary files named
// .holeycow-orphan-N on shared storage; a retry replaces and removes
// them). An invalidated copier refuses with
// ErrInvalidated; a writer returns an error wrapping ErrNotCopier.
func (v *View) Promote(ctx context.Context, s Stabilizer) (err error) {
	ctx = orBackground(ctx)
	if s == nil {
		return &fs.PathError{Op: "promote", Path: ".", Err: fmt.Errorf("cow: nil Stabilizer: %w", fs.ErrInvalid)}
	}
	v.promoting.Store(true)
	defer v.promoting.Store(false)
	v.rmu.Lock()
	defer v.rmu.Unlock()
	if v.role != RoleCopier {
		return &fs.PathError{Op: "promote", Path: ".", Err: ErrNotCopier}
	}
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("promote", "."); err != nil {
		return err
	}
	v.w.mu.Lock()
	v.w.mu.stab = s
	v.w.forgetLocked()
	// Held files left by the old writer: other copiers may read them.
	v.w.mu.adopted = false
	err = v.w.adoptedLocked()
	v.w.mu.Unlock()
	defer func() {
		if err != nil { // still a copier: it keeps no writer state
			v.w.mu.Lock()
			v.w.forgetLocked()
			clear(v.w.mu.held)
			v.w.mu.holdDir, v.w.mu.adopted = false, false
			v.w.mu.Unlock()
		}
	}()
	if err != nil {
		return fmt.Errorf("cow: promote: %w", err)
	}
	// What this view reads of held files becomes its own: its files must
	// not depend on the holding area once they are on shared storage.
	if err := v.detachHeld(); err != nil {
		return fmt.Errorf("cow: promote: %w", err)
	}
	// Nor on where moved files went: each is pushed at its own path.
	if err := v.detachFollowers(); err != nil {
		return fmt.Errorf("cow: promote: %w", err)
	}

	orphans, err := v.push(ctx)
	if err != nil {
		return fmt.Errorf("cow: promote: %w", err)
	}
	// Make everything durable, including what the old writer left
	// unsynced: shared storage now is this view, and must survive a crash
	// as it is.
	if err := vfs.SyncTree(v.shared, ".", true); err != nil {
		return fmt.Errorf("cow: promote: sync: %w", err)
	}
	// Where each overlay node lives on shared storage now.
	where := make(map[*node]string)
	for p, n := range c.mu.entries {
		if n != nil {
			where[n] = p
		}
	}
	for n, p := range orphans {
		where[n] = p
	}
	locks, err := v.promoteLocks(where)
	if err != nil {
		return fmt.Errorf("cow: promote: %w", err)
	}
	// promoteFiles changes the open files only once every shared file is
	// open; after it, nothing can fail.
	if err := v.promoteFiles(where); err != nil {
		releaseLocks(locks)
		return fmt.Errorf("cow: promote: %w", err)
	}
	if len(orphans) > 0 {
		for _, tmp := range orphans {
			if err := v.wRemove(tmp); err != nil {
				v.log.Warn("cow: promote: removing a temporary file", "path", tmp, "err", err)
			}
		}
		if err := v.shared.SyncDir("."); err != nil {
			v.log.Warn("cow: promote: syncing the removal of temporary files", "err", err)
		}
	}
	v.w.mu.Lock()
	clear(v.w.mu.dirty)
	v.w.mu.Unlock()
	// Drop the overlay: shared storage now holds the view.
	for _, n := range c.mu.entries {
		if n != nil && len(n.blocks) > 0 {
			_ = c.store.DeleteFile(n.id)
		}
	}
	for n := range c.mu.orphans {
		if len(n.blocks) > 0 {
			_ = c.store.DeleteFile(n.id)
		}
	}
	for l := range c.mu.locks {
		l.f.node = nil // its shared lock (if any) holds the file now
	}
	c.unfollowAll()
	c.mu.entries = make(map[string]*node)
	c.mu.orphans = make(map[*node]struct{})
	c.mu.handles = make(map[*file]struct{})
	c.mu.locks = make(map[*lockHandle]struct{})
	c.mu.gen++
	v.role = RoleWriter
	v.log.Info("cow: copier promoted to writer")
	return nil
}

// push writes the overlay to shared storage through the writer path. It
// returns the temporary shared paths holding orphans (files removed at the
// copier but still open), keyed by node.
func (v *View) push(ctx context.Context) (map[*node]string, error) {
	c := &v.c
	paths := make([]string, 0, len(c.mu.entries))
	for p := range c.mu.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	// 1. Remove what the view does not have, deepest first.
	for _, p := range slices.Backward(paths) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := c.mu.entries[p]
		fi, absent, err := v.statShared(p)
		if err != nil {
			return nil, err
		}
		if absent || (e != nil && e.dir == fi.IsDir()) {
			continue
		}
		if err := v.removeTree(p, fi); err != nil {
			return nil, err
		}
	}
	// 2. Directories, shallowest first.
	for _, p := range paths {
		if e := c.mu.entries[p]; e != nil && e.dir {
			if err := v.wMkdirAll(p, e.mode.Perm()|0o700); err != nil {
				return nil, err
			}
		}
	}
	// 3. Files.
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e := c.mu.entries[p]; e != nil && !e.dir {
			if err := v.pushFile(p, e); err != nil {
				return nil, err
			}
		}
	}
	// 4. Orphans, under temporary names removed once their files are open.
	orphans := make(map[*node]string)
	for n := range c.mu.orphans {
		tmp := fmt.Sprintf(".holeycow-orphan-%d", n.id)
		if err := v.pushFile(tmp, n); err != nil {
			return nil, err
		}
		orphans[n] = tmp
	}
	return orphans, nil
}

// removeTree removes p (and, for a directory, everything below it) from
// shared storage through the writer path.
func (v *View) removeTree(p string, fi fs.FileInfo) error {
	if fi.IsDir() {
		names, err := v.shared.List(p)
		if err != nil {
			return err
		}
		for _, n := range names {
			child := p + "/" + n
			cfi, absent, err := v.statShared(child)
			if err != nil {
				return err
			}
			if absent {
				continue
			}
			if err := v.removeTree(child, cfi); err != nil {
				return err
			}
		}
	}
	return v.wRemove(p)
}

// pushFile makes the shared file at p hold n's view content.
func (v *View) pushFile(p string, n *node) error {
	flag := os.O_RDWR
	if n.limit == 0 {
		flag |= os.O_CREATE
	}
	vf, err := v.wOpen(p, flag, n.mode.Perm()|0o600)
	if err != nil {
		return err
	}
	f := vf.(*file)
	defer func() {
		v.w.mu.Lock()
		delete(v.w.mu.handles, f)
		v.w.mu.Unlock()
		f.sh.Close()
	}()
	// Bytes below limit that the overlay does not hold are already right
	// on shared storage (the writer preserved before changing them).
	if err := v.wTruncate(f, n.limit); err != nil {
		return err
	}
	idxs := make([]int64, 0, len(n.blocks))
	for idx := range n.blocks {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	bs := v.bs
	buf := make([]byte, bs)
	for _, idx := range idxs {
		if err := v.c.store.ReadBlock(n.id, idx, buf); err != nil {
			return overlayErr("promote", p, err)
		}
		end := min(bs, n.size-idx*bs)
		if _, err := v.wWriteAt(f, buf[:end], idx*bs); err != nil {
			return err
		}
	}
	if err := v.wTruncate(f, n.size); err != nil {
		return err
	}
	return f.sh.Sync()
}

// sharedPath returns where the file that f sees lives on shared storage
// once the overlay is pushed (where maps overlay nodes to their shared
// paths), or the error f gets in the view if it sees no file (a file found
// by name whose name the view no longer has).
func (v *View) sharedPath(f *file, where map[*node]string) (string, error) {
	n, err := v.target("promote", f)
	switch {
	case err != nil:
		return "", err
	case n != nil:
		return where[n], nil
	}
	// Found by name, and not overlaid: the view's file at that name, if
	// it has one, is the shared one.
	vs, err := v.lookup(f.name)
	switch {
	case err != nil:
		return "", &fs.PathError{Op: "promote", Path: f.name, Err: err}
	case vs.dir:
		return "", &fs.PathError{Op: "promote", Path: f.name, Err: vfs.ErrIsDir}
	}
	return f.name, nil
}

// promoteLocks takes on shared storage the locks held at the copier, on
// the files they hold (never creating one: a lock found by a name that
// the view no longer has holds no file, and takes no shared lock). Locks
// that hold one file share its shared lock.
func (v *View) promoteLocks(where map[*node]string) ([]*lockHandle, error) {
	var taken []*lockHandle
	byPath := make(map[string]*sharedLock)
	for l := range v.c.mu.locks {
		p, err := v.sharedPath(l.f, where)
		if err != nil {
			continue
		}
		sl := byPath[p]
		if sl == nil {
			c, err := v.wLock(p)
			if err != nil {
				releaseLocks(taken)
				return nil, err
			}
			sl = &sharedLock{c: c}
			byPath[p] = sl
		}
		sl.refs++
		l.shared = sl
		taken = append(taken, l)
	}
	return taken, nil
}

// releaseLocks undoes promoteLocks (a failed Promote).
func releaseLocks(taken []*lockHandle) {
	for _, l := range taken {
		if c := l.shared.release(); c != nil {
			c.Close()
		}
		l.shared = nil
	}
}

// promoteFiles opens on shared storage every file open at the copier.
func (v *View) promoteFiles(where map[*node]string) error {
	c := &v.c
	type opened struct {
		f    *file
		sh   vfs.File
		path string
	}
	var done []opened
	for f := range c.mu.handles {
		if f.lock {
			continue // promoteLocks did it
		}
		p, err := v.sharedPath(f, where)
		var sh vfs.File
		if err != nil {
			// A file found by name (after a reset) whose name the view
			// no longer has as a file: it keeps failing as it did.
			sh, p, err = missingFile{name: f.name, err: err}, "", nil
		} else {
			sh, err = v.shared.Open(p, f.flag&(os.O_RDONLY|os.O_WRONLY|os.O_RDWR), 0)
		}
		if err != nil {
			for _, o := range done {
				o.sh.Close()
			}
			return err
		}
		done = append(done, opened{f, sh, p})
	}
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	for _, o := range done {
		o.f.sh, o.f.wpath, o.f.node = o.sh, o.path, nil
		o.f.shmu.Lock()
		if o.f.rsh != nil {
			o.f.rsh.Close()
			o.f.rsh = nil
		}
		o.f.shmu.Unlock()
		v.w.mu.handles[o.f] = struct{}{}
	}
	return nil
}

// missingFile stands for a file that an open handle names but that the
// view does not have (see promoteFiles): every call fails with err, the
// error the handle got at the copier (fs.ErrNotExist, vfs.ErrNotDir or
// vfs.ErrIsDir).
type missingFile struct {
	name string
	err  error
}

func (m missingFile) fail(op string) error {
	var pe *fs.PathError
	if errors.As(m.err, &pe) {
		return &fs.PathError{Op: op, Path: m.name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: m.name, Err: m.err}
}
func (m missingFile) ReadAt([]byte, int64) (int, error)  { return 0, m.fail("read") }
func (m missingFile) WriteAt([]byte, int64) (int, error) { return 0, m.fail("write") }
func (m missingFile) Truncate(int64) error               { return m.fail("truncate") }
func (m missingFile) Sync() error                        { return m.fail("sync") }
func (m missingFile) Size() (int64, error)               { return 0, m.fail("size") }
func (m missingFile) Close() error                       { return nil }
func (m missingFile) Name() string                       { return m.name }

var _ vfs.File = missingFile{}
var _ io.Closer = missingFile{}
