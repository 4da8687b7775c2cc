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
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// invalidErr returns the error ops get while the copier is invalidated, or
// nil. Called with c.mu held.
func (v *View) invalidErr(op, name string) error {
	if err := v.c.mu.invalid; err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// lookupErr turns a lookup error into the error of op on name.
func lookupErr(op, name string, err error) error {
	return pathErr(op, name, err)
}

// fileInfo describes an overlay node as it was when Stat ran: a copy,
// because the node changes under the view's lock, which the caller of
// Size or ModTime no longer holds.
type fileInfo struct {
	name    string
	size    int64
	modTime time.Time
	dir     bool
	mode    fs.FileMode
}

// infoOf copies what a FileInfo reports of n. Called with c.mu held.
func infoOf(name string, n *node) fileInfo {
	return fileInfo{name: name, size: n.size, modTime: n.modTime, dir: n.dir, mode: n.mode}
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) ModTime() time.Time { return fi.modTime }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | fi.mode.Perm()
	}
	return fi.mode.Perm()
}

// namedInfo renames a shared FileInfo to the base of the path asked for.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (fi namedInfo) Name() string { return fi.name }

// target returns the node f reads and writes: the one it is bound to, or
// the overlay's file at its name. It returns nil and no error if f is seen
// on shared storage by name. A file found by name (as every file is after
// a Reset) sees the view at its name: if the view has no file there (a
// whiteout, a directory, or a whiteout or file on the way), it gets the
// error a lookup would, never the shared file behind it. Only map lookups:
// this is every read's path. Called with c.mu held.
func (v *View) target(op string, f *file) (*node, error) {
	if f.node != nil {
		return f.node, nil
	}
	name := f.name
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		if a, ok := v.c.mu.entries[name[:i]]; ok {
			if a == nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
			}
			if !a.dir {
				return nil, &fs.PathError{Op: op, Path: name, Err: vfs.ErrNotDir}
			}
		}
	}
	n, ok := v.c.mu.entries[name]
	switch {
	case !ok:
		return nil, nil
	case n == nil:
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case n.dir:
		return nil, &fs.PathError{Op: op, Path: name, Err: vfs.ErrIsDir}
	}
	return n, nil
}

func (v *View) cOpen(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("open", name); err != nil {
		return nil, err
	}
	vs, err := v.lookup(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0:
		if name == "." {
			return nil, &fs.PathError{Op: "open", Path: name, Err: vfs.ErrIsDir}
		}
		pvs, perr := v.lookup(vfs.Dir(name))
		if perr != nil {
			return nil, lookupErr("open", name, perr)
		}
		if !pvs.dir {
			return nil, &fs.PathError{Op: "open", Path: name, Err: vfs.ErrNotDir}
		}
		n := c.newNode(false, perm.Perm())
		c.link(name, n)
	case err != nil:
		return nil, lookupErr("open", name, err)
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case vs.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: vfs.ErrIsDir}
	case flag&os.O_TRUNC != 0:
		n := v.materialize(name, vs)
		if err := v.truncateNode(n, 0, name); err != nil {
			return nil, err
		}
	}
	f := &file{v: v, name: name, flag: flag}
	c.mu.handles[f] = struct{}{}
	return f, nil
}

// sharedErr is the error of op on f, found by name, whose shared file did
// not open with err: the view's own answer for the name when it has one
// (the shared path can fail otherwise below a directory the overlay
// holds: not-a-directory where the view's directory has no such entry).
func (v *View) sharedErr(op string, f *file, err error) error {
	vs, lerr := v.lookup(f.name)
	switch {
	case lerr != nil:
		return lookupErr(op, f.name, lerr)
	case vs.dir:
		return &fs.PathError{Op: op, Path: f.name, Err: vfs.ErrIsDir}
	}
	return pathErr(op, f.name, err)
}

func (v *View) cReadAt(f *file, p []byte, off int64) (int, error) {
	c := &v.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := v.invalidErr("read", f.name); err != nil {
		return 0, err
	}
	n, err := v.target("read", f)
	if err != nil {
		return 0, err
	}
	if n != nil {
		src := v.nodeSource(n, f.name, f)
		defer src.close()
		return v.readNode(n, src, p, off, f.name)
	}
	h, err := v.sharedFile(f)
	if err != nil {
		return 0, v.sharedErr("read", f, err)
	}
	return h.ReadAt(p, off)
}

// bind returns the node f writes to, creating it from shared storage if
// f is still seen by name. Called with c.mu held exclusively.
func (v *View) bind(op string, f *file) (*node, error) {
	if n, err := v.target(op, f); n != nil || err != nil {
		return n, err
	}
	vs, err := v.lookup(f.name)
	if err != nil {
		return nil, lookupErr(op, f.name, err)
	}
	if vs.dir {
		return nil, &fs.PathError{Op: op, Path: f.name, Err: vfs.ErrIsDir}
	}
	return v.materialize(f.name, vs), nil
}

func (v *View) cWriteAt(f *file, p []byte, off int64) (int, error) {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("write", f.name); err != nil {
		return 0, err
	}
	n, err := v.bind("write", f)
	if err != nil {
		return 0, err
	}
	src := v.nodeSource(n, f.name, f)
	defer src.close()
	return v.writeNode(n, src, p, off, f.name)
}

func (v *View) cTruncate(f *file, size int64) error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("truncate", f.name); err != nil {
		return err
	}
	n, err := v.bind("truncate", f)
	if err != nil {
		return err
	}
	return v.truncateNode(n, size, f.name)
}

func (v *View) cSize(f *file) (int64, error) {
	c := &v.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := v.invalidErr("size", f.name); err != nil {
		return 0, err
	}
	n, err := v.target("size", f)
	if err != nil {
		return 0, err
	}
	if n != nil {
		return n.size, nil
	}
	h, err := v.sharedFile(f)
	if err != nil {
		return 0, v.sharedErr("size", f, err)
	}
	return h.Size()
}

// cFileCheck is a copier's Sync: nothing to do but report invalidation.
func (v *View) cFileCheck(op string, f *file) error {
	v.c.mu.RLock()
	defer v.c.mu.RUnlock()
	return v.invalidErr(op, f.name)
}

func (v *View) cClose(f *file) error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.handles, f)
	if n := f.node; n != nil {
		f.node = nil
		n.refs--
		c.release(n)
	}
	f.shmu.Lock()
	defer f.shmu.Unlock()
	if f.rsh != nil {
		f.rsh.Close()
		f.rsh = nil
	}
	return nil
}

// bindOpen binds every open file that is found by name to n before name
// stops naming n's file. n must already be detached (limit 0).
func (v *View) bindOpen(name string, n *node) {
	for f := range v.c.mu.handles {
		if f.node == nil && f.name == name {
			f.node = n
			n.refs++
		}
	}
}

// hasOpen reports whether a file found by name is open on name.
func (v *View) hasOpen(name string) bool {
	for f := range v.c.mu.handles {
		if f.node == nil && f.name == name {
			return true
		}
	}
	return false
}

// detachNamed detaches the file node at name (an existing file) and binds
// the files open on it, so that name can go away. Called with c.mu held
// exclusively.
func (v *View) detachNamed(name string, vs vstat, always bool) (*node, error) {
	if !always && vs.n == nil && !v.hasOpen(name) {
		return nil, nil
	}
	n := v.materialize(name, vs)
	src := v.nodeSource(n, name, nil)
	defer src.close()
	if err := v.detach(n, src, name); err != nil {
		return nil, err
	}
	v.bindOpen(name, n)
	return n, nil
}

func (v *View) cRemove(name string) error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrInvalid}
	}
	vs, err := v.lookup(name)
	if err != nil {
		return lookupErr("remove", name, err)
	}
	if vs.dir {
		names, err := v.listLocked(name)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: vfs.ErrNotEmpty}
		}
	} else if v.hasOpen(name) {
		if _, err := v.detachNamed(name, vs, false); err != nil {
			return err
		}
	}
	c.link(name, nil)
	return nil
}

func (v *View) cRename(oldname, newname string) error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("rename", oldname); err != nil {
		return err
	}
	if oldname == "." || newname == "." {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrInvalid}
	}
	return v.renameLocked(oldname, newname)
}

func (v *View) renameLocked(oldname, newname string) error {
	c := &v.c
	// As rename(2) and vfs.MemFS do, resolve both parents before looking
	// at the names themselves.
	for _, p := range []string{oldname, newname} {
		pvs, err := v.lookup(vfs.Dir(p))
		if err != nil {
			return lookupErr("rename", oldname, err)
		}
		if !pvs.dir {
			return &fs.PathError{Op: "rename", Path: oldname, Err: vfs.ErrNotDir}
		}
	}
	ovs, err := v.lookup(oldname)
	if err != nil {
		return lookupErr("rename", oldname, err)
	}
	nvs, err := v.lookup(newname)
	newExists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return lookupErr("rename", oldname, err)
	}
	switch {
	case newExists && nvs.dir:
		// A directory onto itself too, as vfs.MemFS and rename(2) say.
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrExist}
	case oldname == newname:
		return nil
	case ovs.dir && strings.HasPrefix(newname, oldname+"/"):
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrInvalid}
	case newExists && ovs.dir:
		return &fs.PathError{Op: "rename", Path: oldname, Err: vfs.ErrNotDir}
	}
	if ovs.dir {
		c.link(newname, c.newNode(true, fs.ModeDir|0o755))
		names, err := v.listLocked(oldname)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := v.renameLocked(path.Join(oldname, n), path.Join(newname, n)); err != nil {
				return err
			}
		}
		c.link(oldname, nil)
		return nil
	}
	n, err := v.detachNamed(oldname, ovs, true)
	if err != nil {
		return err
	}
	if newExists {
		// The replaced file lives on for the files open on it.
		if _, err := v.detachNamed(newname, nvs, false); err != nil {
			return err
		}
	}
	c.mu.entries[oldname] = nil // n moves: a whiteout, not an unlink
	c.link(newname, n)
	return nil
}

func (v *View) cStat(name string) (fs.FileInfo, error) {
	c := &v.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := v.invalidErr("stat", name); err != nil {
		return nil, err
	}
	vs, err := v.lookup(name)
	if err != nil {
		return nil, lookupErr("stat", name, err)
	}
	base := path.Base(name)
	if vs.n != nil {
		return infoOf(base, vs.n), nil
	}
	if vs.fi == nil { // the root, never overlaid
		return infoOf(".", &node{dir: true, mode: 0o755}), nil
	}
	return namedInfo{FileInfo: vs.fi, name: base}, nil
}

func (v *View) cList(dir string) ([]string, error) {
	c := &v.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := v.invalidErr("list", dir); err != nil {
		return nil, err
	}
	return v.listLocked(dir)
}

// listLocked lists dir in the copier's view: shared entries not overlaid,
// plus overlay entries that are not whiteouts. Called with c.mu held.
func (v *View) listLocked(dir string) ([]string, error) {
	vs, err := v.lookup(dir)
	if err != nil {
		return nil, lookupErr("list", dir, err)
	}
	if !vs.dir {
		return nil, &fs.PathError{Op: "list", Path: dir, Err: vfs.ErrNotDir}
	}
	set := map[string]struct{}{}
	shared, err := v.shared.List(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, vfs.ErrNotDir) {
		return nil, err
	}
	for _, n := range shared {
		if e, ok := v.c.mu.entries[path.Join(dir, n)]; ok && e == nil {
			continue
		}
		set[n] = struct{}{}
	}
	for p, e := range v.c.mu.entries {
		if e == nil || p == "." || vfs.Dir(p) != dir {
			continue
		}
		set[path.Base(p)] = struct{}{}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return dropReserved(dir, names), nil
}

func (v *View) cMkdirAll(dir string, perm fs.FileMode) error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("mkdirall", dir); err != nil {
		return err
	}
	for _, p := range prefixes(dir) {
		vs, err := v.lookup(p)
		switch {
		case err == nil && vs.dir:
			continue
		case err == nil:
			return &fs.PathError{Op: "mkdirall", Path: dir, Err: vfs.ErrNotDir}
		case errors.Is(err, fs.ErrNotExist):
			c.link(p, c.newNode(true, fs.ModeDir|perm.Perm()))
		default:
			return lookupErr("mkdirall", dir, err)
		}
	}
	return nil
}

func (v *View) cSyncDir(dir string) error {
	c := &v.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := v.invalidErr("syncdir", dir); err != nil {
		return err
	}
	vs, err := v.lookup(dir)
	if err != nil {
		return lookupErr("syncdir", dir, err)
	}
	if !vs.dir {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: vfs.ErrNotDir}
	}
	return nil
}

// lockHandle is a lock taken at a copier, held in the copier's memory. As
// vfs.FS documents, a lock belongs to the file, not to its name: f is an
// open file of the copier (in c.mu.handles, flagged lock) that follows
// the locked file through renames and removals as any open file does,
// and finds it by name again after a Reset. If the copier is promoted,
// the lock also holds the shared lock of that file.
type lockHandle struct {
	v      *View
	f      *file
	closed bool        // guarded by v.c.mu
	shared *sharedLock // set by Promote, guarded by v.c.mu
}

// sharedLock is a lock on shared storage taken by Promote for the copier
// locks that hold one file (several can, once a Reset made them find
// their files by name): it is released when the last of them is.
// Guarded by the view's c.mu.
type sharedLock struct {
	c    io.Closer
	refs int
}

// release drops one holder, and returns the closer to call once none is
// left. Called with c.mu held.
func (s *sharedLock) release() io.Closer {
	s.refs--
	if s.refs > 0 {
		return nil
	}
	return s.c
}

func (l *lockHandle) Close() error {
	v := l.v
	v.c.mu.Lock()
	if l.closed {
		v.c.mu.Unlock()
		return &fs.PathError{Op: "unlock", Path: l.f.name, Err: fs.ErrClosed}
	}
	l.closed = true
	delete(v.c.mu.locks, l)
	delete(v.c.mu.handles, l.f)
	if n := l.f.node; n != nil {
		l.f.node = nil
		n.refs--
		v.c.release(n)
	}
	var sh io.Closer
	if l.shared != nil {
		sh = l.shared.release()
		l.shared = nil
	}
	v.c.mu.Unlock()
	if sh != nil {
		return sh.Close()
	}
	return nil
}

// lockedLocked reports whether a lock of the copier holds the file at
// name, whose lookup gave vs (or which is missing, vs zero): a lock bound
// to its node, or a lock found by that name. Called with c.mu held.
func (v *View) lockedLocked(name string, vs vstat) bool {
	for l := range v.c.mu.locks {
		if n := l.f.node; n != nil {
			if n == vs.n {
				return true
			}
		} else if l.f.name == name {
			return true
		}
	}
	return false
}

func (v *View) cLock(name string) (io.Closer, error) {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := v.invalidErr("lock", name); err != nil {
		return nil, err
	}
	vs, err := v.lookup(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		pvs, perr := v.lookup(vfs.Dir(name))
		if perr != nil {
			return nil, lookupErr("lock", name, perr)
		}
		if !pvs.dir {
			return nil, &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrNotDir}
		}
		if v.lockedLocked(name, vstat{}) {
			// A lock held across a Reset, found by this name.
			return nil, &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrLocked}
		}
		c.link(name, c.newNode(false, 0o644))
	case err != nil:
		return nil, lookupErr("lock", name, err)
	case vs.dir:
		return nil, &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrIsDir}
	case v.lockedLocked(name, vs):
		return nil, &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrLocked}
	}
	l := &lockHandle{v: v, f: &file{v: v, name: name, flag: os.O_RDONLY, lock: true}}
	c.mu.handles[l.f] = struct{}{}
	c.mu.locks[l] = struct{}{}
	return l, nil
}

// Preserve implements Preserver: for each region not already overlaid, it
// copies the copier's current view (which is the shared content) into the
// overlay. KindMeta pins a path's existence and size, or its absence (a
// whiteout); KindBlocks also copies the blocks; KindFile copies the whole
// file. Preserve is idempotent, and linearizable with reads (it holds the
// copier lock exclusively). A writer returns an error wrapping
// ErrNotCopier. A copier being promoted returns nil at once: its own view
// is in its overlay.
func (v *View) Preserve(ctx context.Context, regions []Region) error {
	ctx = orBackground(ctx)
	if v.promoting.Load() {
		return nil
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleCopier {
		return &fs.PathError{Op: "preserve", Path: ".", Err: ErrNotCopier}
	}
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range regions {
		if err := ctx.Err(); err != nil {
			return &fs.PathError{Op: "preserve", Path: r.Path, Err: err}
		}
		if err := v.preserveLocked(r); err != nil {
			return err
		}
	}
	return nil
}

func (v *View) preserveLocked(r Region) error {
	if err := vfs.CheckPath("preserve", r.Path); err != nil {
		return err
	}
	if r.Kind < KindBlocks || r.Kind > KindMove || r.Off < 0 || r.Len < 0 ||
		(r.Kind == KindRelease) != reserved(r.Path) ||
		((r.Kind == KindHold || r.Kind == KindRelease) && r.Off == 0) ||
		(r.Kind == KindRelease && r.Path != HeldPath(r.Off)) ||
		(r.Kind == KindMove) != (r.To != "") ||
		(r.Kind == KindMove && (!fs.ValidPath(r.To) || reserved(r.To) || r.To == r.Path || r.To == ".")) {
		return &fs.PathError{Op: "preserve", Path: r.Path, Err: fmt.Errorf("cow: bad region %v: %w", r, fs.ErrInvalid)}
	}
	if r.Kind == KindRelease {
		return v.preserveRelease(r)
	}
	if r.Path == "." {
		return nil // the root always exists
	}
	if r.Kind == KindHold {
		if err := v.detachReused(r); err != nil {
			return err
		}
	}
	n, err := v.preserveEntry(r)
	if err != nil {
		return err
	}
	// The nodes that follow a file moved away from r.Path, or to it.
	return v.preserveFollowers(r, n)
}

// preserveEntry preserves r for the copier's own entry at r.Path, and
// returns its node (nil if the view has no file or directory there).
func (v *View) preserveEntry(r Region) (*node, error) {
	c := &v.c
	vs, err := v.lookup(r.Path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, vfs.ErrNotDir) {
		if _, ok := c.mu.entries[r.Path]; !ok {
			c.link(r.Path, nil) // absence: a file created later stays absent
		}
		return nil, nil
	}
	if err != nil {
		return nil, pathErr("preserve", r.Path, err)
	}
	n := v.materialize(r.Path, vs)
	switch r.Kind {
	case KindHold:
		return n, v.preserveHold(n, r)
	case KindMove:
		return n, v.preserveMove(n, r)
	}
	if n.dir || n.limit == 0 {
		return n, nil
	}
	src := v.nodeSource(n, r.Path, nil)
	defer src.close()
	switch r.Kind {
	case KindBlocks:
		return n, v.preserveBlocks(n, src, r.Off/v.bs, (r.Off+r.Len+v.bs-1)/v.bs, r.Path)
	case KindFile:
		return n, v.detach(n, src, r.Path)
	}
	return n, nil
}

// Invalidate makes the copier refuse every read, write, stat, list and
// open with an *fs.PathError wrapping ErrInvalidated and cause, until
// Reset. Preserve keeps working. A writer ignores it.
func (v *View) Invalidate(cause error) {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleCopier {
		v.log.Warn("cow: Invalidate called on a writer", "cause", cause)
		return
	}
	err := ErrInvalidated
	if cause != nil {
		err = fmt.Errorf("%w: %w", ErrInvalidated, cause)
	}
	v.c.mu.Lock()
	v.c.mu.invalid = err
	v.c.mu.Unlock()
	v.log.Info("cow: copier invalidated", "cause", cause)
}

// Invalidated returns the error a copier's operations get while it is
// invalidated (wrapping ErrInvalidated and the cause given to Invalidate),
// or nil: while it is valid, and always on a writer. A caller that may
// answer without touching the view (an engine's page cache) checks it
// before and after such a read.
func (v *View) Invalidated() error {
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleCopier {
		return nil
	}
	v.c.mu.RLock()
	defer v.c.mu.RUnlock()
	return v.c.mu.invalid
}

// Reset drops the overlay inside h.ResetCopier, so that the new view is
// the shared state at a point where the writer had no mutation in flight
// (a prefix of its mutation sequence, invariant 5), and clears
// invalidation. Files open across a reset stay usable and find their file
// by name in the new view (a file that exists only in the dropped overlay
// reads as missing); engines are expected to close and reopen anyway.
// Locks stay held, and find their file by name too. A writer returns an
// error wrapping ErrNotCopier.
func (v *View) Reset(ctx context.Context, h ResetHandshake) error {
	ctx = orBackground(ctx)
	if h == nil {
		return &fs.PathError{Op: "reset", Path: ".", Err: fs.ErrInvalid}
	}
	v.rmu.RLock()
	defer v.rmu.RUnlock()
	if v.role != RoleCopier {
		return &fs.PathError{Op: "reset", Path: ".", Err: ErrNotCopier}
	}
	if err := h.ResetCopier(ctx, v.dropOverlay); err != nil {
		return fmt.Errorf("cow: reset: %w", err)
	}
	v.log.Info("cow: copier reset")
	return nil
}

// dropOverlay empties the overlay and unbinds open files. Called with rmu
// held.
func (v *View) dropOverlay() error {
	c := &v.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	dropped := map[*node]bool{}
	drop := func(n *node) {
		if n != nil && !dropped[n] {
			dropped[n] = true
			if len(n.blocks) > 0 {
				errs = append(errs, c.store.DeleteFile(n.id))
			}
		}
	}
	for _, n := range c.mu.entries {
		drop(n)
	}
	for n := range c.mu.orphans {
		drop(n)
	}
	for f := range c.mu.handles {
		f.node = nil
	}
	c.mu.entries = make(map[string]*node)
	c.mu.orphans = make(map[*node]struct{})
	c.mu.invalid = nil
	c.mu.gen++
	c.closeHeld("")
	c.unfollowAll()
	return errors.Join(errs...)
}
