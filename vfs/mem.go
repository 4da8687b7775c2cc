package vfs

import (
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemFS is a file system in memory, with directories and POSIX semantics:
// names live in directories and point to inodes, so a file that is removed
// or renamed over stays readable and writable through the Files already
// open on it until they are closed.
//
// MemFS also records what a power loss would keep: which content of each
// file has been synced (File.Sync or SyncData) and which entries of each
// directory have been synced (SyncDir). CrashClone returns the state after
// a simulated power loss. Stats counts I/O.
//
// Memory: besides the current content, MemFS keeps each file's synced
// content and a copy of every write since that file's last Sync, and every
// namespace change since the last SyncDir of the directories it touched. A
// file rewritten many times without Sync therefore costs memory in
// proportion to the bytes written; Sync releases it, at a cost in
// proportion to the bytes written since the last one. No file may grow past
// MemMaxFileSize.
//
// Concurrency: every method is safe for concurrent use. Namespace
// operations are serialized by one mutex; reads and writes of a file take
// only that file's lock, so different files never contend.
type MemFS struct {
	// seq numbers every change, to content and to the namespace, in the
	// order they happen; CrashClone draws one coin per number.
	seq atomic.Uint64

	stats struct {
		writes, bytesWritten, reads, bytesRead, syncs, dirSyncs atomic.Int64
	}

	// mu guards the namespace: the entries, synced entries and pending
	// changes of every directory, the log of pending namespace changes, and
	// the lock table.
	mu struct {
		sync.Mutex
		root *memNode
		// pending holds the namespace changes not yet made durable by a
		// SyncDir, in seq order. Changes committed as dependencies of
		// another directory's SyncDir stay here, marked committed, until
		// the next SyncDir compacts the log.
		pending []*nsOp
		// locked holds the files held by Lock.
		locked map[*memNode]bool
	}
}

// MemMaxFileSize is the largest size a MemFS file may have. A write or
// truncation past it gets ErrTooLarge.
const MemMaxFileSize = 1 << 32

var (
	_ FS          = (*MemFS)(nil)
	_ RemoveAller = (*MemFS)(nil)
	_ io.Closer   = (*memLock)(nil)
)

// NewMem returns an empty file system in memory: its root directory exists
// and has no entries, and it is fully synced.
func NewMem() *MemFS {
	m := &MemFS{}
	m.mu.root = newMemDir(0o755)
	m.mu.locked = make(map[*memNode]bool)
	return m
}

// memNode is an inode: a file or a directory. A node has no name; the
// directories that hold it do.
type memNode struct {
	mode fs.FileMode // immutable; has fs.ModeDir for a directory

	// A directory's fields, guarded by MemFS.mu.
	entries map[string]*memNode // the current entries
	synced  map[string]*memNode // the durable entries, before pending changes
	last    map[string]*nsOp    // the latest uncommitted change of each name
	dirTime time.Time           // the time of the last change of entries
	dead    bool                // removed, and the removal is durable

	// data guards a file's content.
	data struct {
		sync.RWMutex
		buf     []byte   // the current content
		synced  []byte   // the content at the last Sync, before pending
		pending []dataOp // writes and truncations since the last Sync
		pendLen int64    // the bytes held by pending
		modTime time.Time
	}
}

func newMemDir(perm fs.FileMode) *memNode {
	return &memNode{
		mode:    fs.ModeDir | perm.Perm(),
		entries: make(map[string]*memNode),
		synced:  make(map[string]*memNode),
		last:    make(map[string]*nsOp),
		dirTime: time.Now(),
	}
}

func newMemFile(perm fs.FileMode) *memNode {
	n := &memNode{mode: perm.Perm()}
	n.data.modTime = time.Now()
	return n
}

func (n *memNode) isDir() bool { return n.mode.IsDir() }

// lookup resolves the valid path name, with m.mu held. It returns the
// directory that holds the last element of name, that element, and the node
// it names, nil if none. For ".", dir is nil and n is the root. A missing
// directory on the way gets fs.ErrNotExist, a file on the way ErrNotDir.
func (m *MemFS) lookup(op, name string) (dir *memNode, base string, n *memNode, err error) {
	if name == "." {
		return nil, ".", m.mu.root, nil
	}
	dir = m.mu.root
	rest := name
	for {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return dir, rest, dir.entries[rest], nil
		}
		child := dir.entries[rest[:i]]
		switch {
		case child == nil:
			return nil, "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		case !child.isDir():
			return nil, "", nil, &fs.PathError{Op: op, Path: name, Err: ErrNotDir}
		}
		dir, rest = child, rest[i+1:]
	}
}

// lookupDir resolves the valid path name of a directory, with m.mu held.
func (m *MemFS) lookupDir(op, name string) (*memNode, error) {
	_, _, n, err := m.lookup(op, name)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case !n.isDir():
		return nil, &fs.PathError{Op: op, Path: name, Err: ErrNotDir}
	}
	return n, nil
}

// Open implements FS. Opening a directory gets ErrIsDir, or fs.ErrExist
// with os.O_CREATE|os.O_EXCL. As on Linux, os.O_TRUNC truncates even with
// os.O_RDONLY, and os.O_EXCL without os.O_CREATE is ignored.
func (m *MemFS) Open(name string, flag int, perm fs.FileMode) (File, error) {
	if err := CheckPath("open", name); err != nil {
		return nil, err
	}
	if err := CheckFlag(name, flag); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup("open", name)
	switch {
	case err != nil:
		return nil, err
	case n == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n == nil:
		n = newMemFile(perm)
		m.change(nsChange{dir: dir, name: base, node: n})
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case n.isDir():
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrIsDir}
	case flag&os.O_TRUNC != 0:
		n.data.Lock()
		n.truncate(m.seq.Add(1), 0)
		n.data.Unlock()
	}
	return &memFile{fs: m, node: n, handle: handle{name: name, flag: flag}}, nil
}

// Remove implements FS. Removing "." gets fs.ErrInvalid.
func (m *MemFS) Remove(name string) error {
	if err := CheckPath("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrInvalid}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup("remove", name)
	switch {
	case err != nil:
		return err
	case n == nil:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case n.isDir() && len(n.entries) > 0:
		return &fs.PathError{Op: "remove", Path: name, Err: ErrNotEmpty}
	}
	m.change(removal(dir, base, n))
	return nil
}

// RemoveAll implements RemoveAller. A missing name is not an error;
// RemoveAll(".") removes everything inside the root. It has the effect of
// a series of Remove calls, children first, made at one instant.
func (m *MemFS) RemoveAll(name string) error {
	if err := CheckPath("removeall", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup("removeall", name)
	if err != nil {
		if pe := err.(*fs.PathError); pe.Err == fs.ErrNotExist {
			return nil
		}
		return err
	}
	if n == nil {
		return nil
	}
	if name == "." {
		for _, child := range sortedNames(n.entries) {
			m.removeTree(n, child)
		}
		return nil
	}
	m.removeTree(dir, base)
	return nil
}

// removeTree removes the entry name of dir and everything below it, with
// m.mu held.
func (m *MemFS) removeTree(dir *memNode, name string) {
	n := dir.entries[name]
	if n.isDir() {
		for _, child := range sortedNames(n.entries) {
			m.removeTree(n, child)
		}
	}
	m.change(removal(dir, name, n))
}

// removal is the change that removes the entry name, naming n, from dir.
func removal(dir *memNode, name string, n *memNode) nsChange {
	c := nsChange{dir: dir, name: name}
	if n.isDir() {
		c.gone = n
	}
	return c
}

// Rename implements FS. Renaming onto an existing directory gets
// fs.ErrExist, a directory onto a file ErrNotDir, a directory into its own
// subtree or anything from or to "." fs.ErrInvalid. Renaming a file to its
// own name does nothing. Errors name oldname, unless newname is invalid.
func (m *MemFS) Rename(oldname, newname string) error {
	if err := CheckPath("rename", oldname); err != nil {
		return err
	}
	if err := CheckPath("rename", newname); err != nil {
		return err
	}
	fail := func(err error) error { return &fs.PathError{Op: "rename", Path: oldname, Err: err} }
	if oldname == "." || newname == "." {
		return fail(fs.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// As rename(2) does, resolve both parents before looking at the
	// names themselves.
	odir, obase, n, err := m.lookup("rename", oldname)
	if err != nil {
		return err
	}
	ndir, nbase, target, err := m.lookup("rename", newname)
	switch {
	case err != nil:
		return fail(err.(*fs.PathError).Err)
	case n == nil:
		return fail(fs.ErrNotExist)
	case target != nil && target.isDir():
		return fail(fs.ErrExist)
	case target == n:
		return nil
	case n.isDir() && strings.HasPrefix(newname, oldname+"/"):
		return fail(fs.ErrInvalid)
	case n.isDir() && target != nil:
		return fail(ErrNotDir)
	}
	m.change(nsChange{dir: odir, name: obase}, nsChange{dir: ndir, name: nbase, node: n})
	return nil
}

// Stat implements FS. The FileInfo's Name is the last element of name, Sys
// returns nil, and a directory's size is 0.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	if err := CheckPath("stat", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	fi := &memInfo{name: base, mode: n.mode}
	if n.isDir() {
		fi.modTime = n.dirTime
	} else {
		n.data.RLock()
		fi.size, fi.modTime = int64(len(n.data.buf)), n.data.modTime
		n.data.RUnlock()
	}
	return fi, nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	if err := CheckPath("list", dir); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir("list", dir)
	if err != nil {
		return nil, err
	}
	return sortedNames(n.entries), nil
}

// MkdirAll implements FS. An existing file on the way gets ErrNotDir.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := CheckPath("mkdirall", dir); err != nil {
		return err
	}
	if dir == "." {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.mu.root
	for elem := range strings.SplitSeq(dir, "/") {
		child := n.entries[elem]
		switch {
		case child == nil:
			child = newMemDir(perm)
			m.change(nsChange{dir: n, name: elem, node: child})
		case !child.isDir():
			return &fs.PathError{Op: "mkdirall", Path: dir, Err: ErrNotDir}
		}
		n = child
	}
	return nil
}

// SyncDir implements FS: it makes durable every change to dir's entries,
// and the earlier changes those depend on (see CrashClone).
func (m *MemFS) SyncDir(dir string) error {
	if err := CheckPath("syncdir", dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.lookupDir("syncdir", dir)
	if err != nil {
		return err
	}
	m.stats.dirSyncs.Add(1)
	m.syncDir(d)
	return nil
}

// Lock implements FS. It creates name (mode 0644) if missing. The lock
// belongs to the file, not to its name: after the file is removed or
// renamed, a Lock on the name locks a different file. A lock already held
// gets ErrLocked; a directory gets ErrIsDir.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	if err := CheckPath("lock", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup("lock", name)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		n = newMemFile(0o644)
		m.change(nsChange{dir: dir, name: base, node: n})
	case n.isDir():
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrIsDir}
	case m.mu.locked[n]:
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	m.mu.locked[n] = true
	return &memLock{fs: m, node: n, name: name}, nil
}

// memLock is a lock taken by MemFS.Lock.
//
// Concurrency: Close is safe for concurrent use; only the first call
// releases the lock.
type memLock struct {
	fs     *MemFS
	node   *memNode
	name   string
	closed atomic.Bool
}

// Close releases the lock. A second Close returns fs.ErrClosed.
func (l *memLock) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: fs.ErrClosed}
	}
	l.fs.mu.Lock()
	delete(l.fs.mu.locked, l.node)
	l.fs.mu.Unlock()
	return nil
}

// MemStats counts the I/O done on a MemFS since it was created.
type MemStats struct {
	Writes       int64 // File.WriteAt calls
	BytesWritten int64 // bytes written by WriteAt
	Reads        int64 // File.ReadAt calls
	BytesRead    int64 // bytes returned by ReadAt
	Syncs        int64 // File.Sync and SyncData calls
	DirSyncs     int64 // FS.SyncDir calls
}

// Stats returns the I/O counts of m. Each count is read atomically, but
// the set is not a snapshot of one instant if calls are in flight.
func (m *MemFS) Stats() MemStats {
	return MemStats{
		Writes:       m.stats.writes.Load(),
		BytesWritten: m.stats.bytesWritten.Load(),
		Reads:        m.stats.reads.Load(),
		BytesRead:    m.stats.bytesRead.Load(),
		Syncs:        m.stats.syncs.Load(),
		DirSyncs:     m.stats.dirSyncs.Load(),
	}
}

// memInfo is the fs.FileInfo of a MemFS file or directory.
type memInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (fi *memInfo) Name() string       { return fi.name }
func (fi *memInfo) Size() int64        { return fi.size }
func (fi *memInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *memInfo) ModTime() time.Time { return fi.modTime }
func (fi *memInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *memInfo) Sys() any           { return nil }

func sortedNames(entries map[string]*memNode) []string {
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
