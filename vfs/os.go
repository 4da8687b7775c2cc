package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
)

// OSFS is a directory on disk as an FS. Create it with OS.
//
// Every path is resolved inside the directory with os.Root: no path, and no
// symbolic link met on the way, can reach outside it.
//
// Concurrency: every method is safe for concurrent use.
type OSFS struct {
	dir      string // absolute when filepath.Abs succeeded
	uncached bool   // OSOptions.DropCache
	dropOpen bool   // OSOptions.DropCacheOnOpen

	root atomic.Pointer[os.Root] // opened on first use, then never changed

	// mu serializes the first opening of root.
	mu sync.Mutex
}

var (
	_ FS          = (*OSFS)(nil)
	_ RemoveAller = (*OSFS)(nil)
	_ File        = (*osFile)(nil)
	_ DataSyncer  = (*osFile)(nil)
	_ io.Closer   = (*osLock)(nil)
)

// OS returns the directory dir on disk as an FS. The directory must exist
// by the time the FS is first used (OS itself does not touch the disk); each
// call made while it cannot be opened returns that error. A relative dir is
// made absolute at once, so later changes of the working directory do not
// matter. Once opened, the FS keeps referring to the same directory even if
// it is renamed.
//
// Files are created with the perm given to Open, less the umask, as with
// os.OpenFile. Lock uses flock(2) where the system has it (Linux, the BSDs
// and macOS), so it excludes other processes as well as this one.
func OS(dir string) *OSFS {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &OSFS{dir: dir}
}

// OSOptions configure OSWithOptions.
type OSOptions struct {
	// DropCache makes every ReadAt drop the kernel's cached pages of the
	// range first (posix_fadvise POSIX_FADV_DONTNEED, Linux), so that it
	// reads what the file system has now rather than a page cached
	// earlier. For shared storage whose mounts do not invalidate each
	// other's page caches (GlusterFS without direct-io-mode=enable): a
	// copier then never reads a page cached before another mount
	// rewrote it. Dirty pages are not dropped (this mount's own writes
	// stay visible). It has effect on Linux (amd64, arm64) only.
	DropCache bool
	// DropCacheOnOpen makes every Open drop the kernel's clean cached
	// pages of the whole file (posix_fadvise POSIX_FADV_DONTNEED, Linux)
	// before returning it: the file's first reads come from the file
	// system, later ones may come from the page cache. It is the cheap
	// form of DropCache for a cow view on such a mount: a copier reopens
	// its shared files in each generation (after a reset) and a process
	// opens them afresh after a restart or on becoming the writer, and
	// within a generation it reads from shared storage only blocks that
	// did not change since it joined, whose cached pages are current
	// (issue 17, item 3). A failed drop fails the Open.
	DropCacheOnOpen bool
}

// OSWithOptions is OS with o.
func OSWithOptions(dir string, o OSOptions) *OSFS {
	fs := OS(dir)
	fs.uncached = o.DropCache
	fs.dropOpen = o.DropCacheOnOpen
	return fs
}

// Dir returns the directory on disk that o is rooted at.
func (o *OSFS) Dir() string { return o.dir }

// openRoot returns the os.Root of o, opening it on first use.
func (o *OSFS) openRoot(op, name string) (*os.Root, error) {
	if r := o.root.Load(); r != nil {
		return r, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.root.Load(); r != nil {
		return r, nil
	}
	r, err := os.OpenRoot(o.dir)
	if err != nil {
		if fi, serr := os.Stat(o.dir); serr == nil && !fi.IsDir() {
			// os.OpenRoot says so with an error of its own, not ENOTDIR.
			err = ErrNotDir
		}
		return nil, osErr(op, name, err)
	}
	o.root.Store(r)
	return r, nil
}

// Open implements FS. Opening a directory gets ErrIsDir, or fs.ErrExist
// with os.O_CREATE|os.O_EXCL.
func (o *OSFS) Open(name string, flag int, perm fs.FileMode) (File, error) {
	if err := CheckPath("open", name); err != nil {
		return nil, err
	}
	if err := CheckFlag(name, flag); err != nil {
		return nil, err
	}
	if name == "." {
		return nil, openRootErr(name, flag)
	}
	r, err := o.openRoot("open", name)
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(name, flag, perm.Perm())
	if err != nil {
		return nil, osErr("open", name, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = ErrIsDir
	}
	if err != nil {
		f.Close()
		return nil, osErr("open", name, err)
	}
	if o.dropOpen {
		if err := dropCache(f, 0, 0); err != nil {
			f.Close()
			return nil, osErr("open", name, err)
		}
	}
	return &osFile{f: f, handle: handle{name: name, flag: flag}, uncached: o.uncached}, nil
}

// openRootErr is the error of opening the root directory with flag.
func openRootErr(name string, flag int) error {
	if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	return &fs.PathError{Op: "open", Path: name, Err: ErrIsDir}
}

// Remove implements FS. Removing "." gets fs.ErrInvalid.
func (o *OSFS) Remove(name string) error {
	if err := CheckPath("remove", name); err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrInvalid}
	}
	r, err := o.openRoot("remove", name)
	if err != nil {
		return err
	}
	if err := r.Remove(name); err != nil {
		return osErr("remove", name, err)
	}
	return nil
}

// Rename implements FS. Renaming onto an existing directory gets
// fs.ErrExist, a directory onto a file ErrNotDir, a directory into its own
// subtree or anything from or to "." fs.ErrInvalid. Renaming a file to its
// own name does nothing. Errors name oldname, unless newname is invalid.
func (o *OSFS) Rename(oldname, newname string) error {
	if err := CheckPath("rename", oldname); err != nil {
		return err
	}
	if err := CheckPath("rename", newname); err != nil {
		return err
	}
	if oldname == "." || newname == "." {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrInvalid}
	}
	r, err := o.openRoot("rename", oldname)
	if err != nil {
		return err
	}
	if err := r.Rename(oldname, newname); err != nil {
		return osErr("rename", oldname, err)
	}
	return nil
}

// Stat implements FS. The FileInfo is the one os.Root.Stat returns: its
// Name is the last element of name.
func (o *OSFS) Stat(name string) (fs.FileInfo, error) {
	if err := CheckPath("stat", name); err != nil {
		return nil, err
	}
	r, err := o.openRoot("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := r.Stat(name)
	if err != nil {
		return nil, osErr("stat", name, err)
	}
	return fi, nil
}

// List implements FS.
func (o *OSFS) List(dir string) ([]string, error) {
	if err := CheckPath("list", dir); err != nil {
		return nil, err
	}
	d, err := o.openDir("list", dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, osErr("list", dir, err)
	}
	sort.Strings(names)
	return names, nil
}

// openDir opens dir for reading, returning ErrNotDir if it is not a
// directory.
func (o *OSFS) openDir(op, dir string) (*os.File, error) {
	r, err := o.openRoot(op, dir)
	if err != nil {
		return nil, err
	}
	d, err := r.Open(dir)
	if err != nil {
		return nil, osErr(op, dir, err)
	}
	fi, err := d.Stat()
	if err == nil && !fi.IsDir() {
		err = ErrNotDir
	}
	if err != nil {
		d.Close()
		return nil, osErr(op, dir, err)
	}
	return d, nil
}

// MkdirAll implements FS. An existing file on the way gets ErrNotDir.
func (o *OSFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := CheckPath("mkdirall", dir); err != nil {
		return err
	}
	r, err := o.openRoot("mkdirall", dir)
	if err != nil {
		return err
	}
	if err := r.MkdirAll(dir, perm.Perm()); err != nil {
		err = sentinel(err)
		if err == fs.ErrExist {
			// os.Root reports a file in the way as EEXIST; os.MkdirAll
			// and MemFS as ENOTDIR.
			err = ErrNotDir
		}
		return &fs.PathError{Op: "mkdirall", Path: dir, Err: err}
	}
	return nil
}

// SyncDir implements FS with fsync(2) on the directory.
func (o *OSFS) SyncDir(dir string) error {
	if err := CheckPath("syncdir", dir); err != nil {
		return err
	}
	d, err := o.openDir("syncdir", dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return osErr("syncdir", dir, err)
	}
	return nil
}

// RemoveAll implements RemoveAller. A missing name is not an error;
// RemoveAll(".") removes everything inside the root but not the root.
func (o *OSFS) RemoveAll(name string) error {
	if err := CheckPath("removeall", name); err != nil {
		return err
	}
	r, err := o.openRoot("removeall", name)
	if err != nil {
		return err
	}
	if name != "." {
		if err := r.RemoveAll(name); err != nil {
			return osErr("removeall", name, err)
		}
		return nil
	}
	names, err := o.List(".")
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: errors.Unwrap(err)}
	}
	for _, n := range names {
		if err := r.RemoveAll(n); err != nil {
			return osErr("removeall", n, err)
		}
	}
	return nil
}

// Check verifies o's invariants: its directory can be opened and is a
// directory.
func (o *OSFS) Check() error {
	r, err := o.openRoot("check", ".")
	if err != nil {
		return err
	}
	fi, err := r.Stat(".")
	if err != nil {
		return osErr("check", ".", err)
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "check", Path: ".", Err: ErrNotDir}
	}
	return nil
}

// osFile is a File on disk. It tracks its open flags itself, so that a
// wrong-direction access gets ErrReadOnly or ErrWriteOnly rather than EBADF.
type osFile struct {
	f *os.File
	handle
	uncached bool // drop cached pages before each read (OSOptions.DropCache)
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.readAt(off); err != nil {
		return 0, err
	}
	if f.uncached && len(p) > 0 {
		if err := dropCache(f.f, off, int64(len(p))); err != nil {
			return 0, osErr("read", f.name, err)
		}
	}
	n, err := f.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = osErr("read", f.name, err)
	}
	return n, err
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.resize("write", off); err != nil {
		return 0, err
	}
	n, err := f.f.WriteAt(p, off)
	if err != nil {
		err = osErr("write", f.name, err)
	}
	return n, err
}

func (f *osFile) Truncate(size int64) error {
	if err := f.resize("truncate", size); err != nil {
		return err
	}
	if err := f.f.Truncate(size); err != nil {
		return osErr("truncate", f.name, err)
	}
	return nil
}

func (f *osFile) Sync() error {
	if err := f.check("sync"); err != nil {
		return err
	}
	if err := f.f.Sync(); err != nil {
		return osErr("sync", f.name, err)
	}
	return nil
}

// SyncData implements DataSyncer with fdatasync(2) where the system has it,
// otherwise with Sync.
func (f *osFile) SyncData() error {
	if err := f.check("syncdata"); err != nil {
		return err
	}
	if err := datasync(f.f); err != nil {
		return osErr("syncdata", f.name, err)
	}
	return nil
}

func (f *osFile) Size() (int64, error) {
	if err := f.check("size"); err != nil {
		return 0, err
	}
	fi, err := f.f.Stat()
	if err != nil {
		return 0, osErr("size", f.name, err)
	}
	return fi.Size(), nil
}

func (f *osFile) Close() error {
	if err := f.close(); err != nil {
		return err
	}
	if err := f.f.Close(); err != nil {
		return osErr("close", f.name, err)
	}
	return nil
}

// osErr returns err as an *fs.PathError with op and the FS-relative name,
// replacing the system's error by this package's sentinel where one fits.
func osErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: sentinel(err)}
}

// sentinel returns the sentinel error that stands for err, or err's
// innermost error if none does.
func sentinel(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT:
			return fs.ErrNotExist
		case syscall.EEXIST:
			return fs.ErrExist
		case syscall.ENOTEMPTY:
			return ErrNotEmpty
		case syscall.EISDIR:
			return ErrIsDir
		case syscall.ENOTDIR:
			return ErrNotDir
		case syscall.EACCES, syscall.EPERM:
			return fs.ErrPermission
		case syscall.EINVAL, syscall.ENAMETOOLONG, syscall.ELOOP:
			return fs.ErrInvalid
		case syscall.EFBIG:
			return ErrTooLarge
		case syscall.EROFS:
			return ErrReadOnly
		}
		return errno
	}
	for _, s := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrClosed, fs.ErrPermission, fs.ErrInvalid,
		ErrIsDir, ErrNotDir, ErrNotEmpty, ErrLocked, ErrTooLarge, ErrReadOnly} {
		if errors.Is(err, s) {
			return s
		}
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(err) {
		err = u
	}
	if err.Error() == "path escapes from parent" {
		// os.Root's unexported errPathEscapes: a symbolic link that
		// leads outside the root.
		return fs.ErrInvalid
	}
	return err
}
