package pebblevfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	pvfs "github.com/cockroachdb/pebble/v2/vfs"

	"github.com/holeycow/holeycow/vfs"
)

// FS presents a holeycow vfs.FS as Pebble's vfs.FS.
//
// Concurrency: safe for concurrent use, as the vfs.FS it wraps is.
type FS struct {
	fsys vfs.FS
}

// New returns fsys as Pebble's vfs.FS. Give it to pebble.Options.FS.
func New(fsys vfs.FS) *FS { return &FS{fsys: fsys} }

var _ pvfs.FS = (*FS)(nil)

// Inner returns the vfs.FS that f presents.
func (f *FS) Inner() vfs.FS { return f.fsys }

// clean turns one of Pebble's names into a vfs path: leading slashes go,
// "." and ".." are resolved, "" is the root. A name that climbs out of the
// root gets fs.ErrInvalid.
func clean(op, name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == "" {
		p = "."
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", &fs.PathError{Op: op, Path: name, Err: ErrOutsideRoot}
	}
	return p, nil
}

func (f *FS) open(op, name string, flag int) (*File, error) {
	p, err := clean(op, name)
	if err != nil {
		return nil, err
	}
	vf, err := f.fsys.Open(p, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return &File{fsys: f.fsys, name: p, f: vf}, nil
}

// Create creates name for reading and writing. An existing file is removed
// first, so that a File still open on it keeps its content.
func (f *FS) Create(name string, _ pvfs.DiskWriteCategory) (pvfs.File, error) {
	p, err := clean("create", name)
	if err != nil {
		return nil, err
	}
	if err := f.fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return f.open("create", p, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
}

// Link makes newname a copy of oldname, synced: vfs.FS has no hard links.
// newname must not exist (fs.ErrExist). Pebble links only files it never
// writes again (sstables), for which a copy is as good as a link.
func (f *FS) Link(oldname, newname string) error {
	op, err := clean("link", oldname)
	if err != nil {
		return err
	}
	np, err := clean("link", newname)
	if err != nil {
		return err
	}
	src, err := f.fsys.Open(op, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := f.fsys.Open(np, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := copyFile(dst, src); err != nil {
		dst.Close()
		_ = f.fsys.Remove(np)
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// copyFile copies src's content to the start of dst.
func copyFile(dst, src vfs.File) error {
	buf := make([]byte, 256<<10)
	var off int64
	for {
		n, err := src.ReadAt(buf, off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Open opens name for reading. A directory opens as OpenDir would.
func (f *FS) Open(name string, opts ...pvfs.OpenOption) (pvfs.File, error) {
	file, err := f.open("open", name, os.O_RDONLY)
	if errors.Is(err, vfs.ErrIsDir) {
		return f.OpenDir(name)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(file)
	}
	return file, nil
}

// OpenReadWrite opens name for reading and writing, creating it if needed.
func (f *FS) OpenReadWrite(name string, _ pvfs.DiskWriteCategory, opts ...pvfs.OpenOption) (pvfs.File, error) {
	file, err := f.open("openreadwrite", name, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(file)
	}
	return file, nil
}

// OpenDir opens a directory, for Sync (which is SyncDir) and Stat only.
func (f *FS) OpenDir(name string) (pvfs.File, error) {
	p, err := clean("opendir", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.fsys.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "opendir", Path: p, Err: vfs.ErrNotDir}
	}
	return &File{fsys: f.fsys, name: p, dir: true}, nil
}

// Remove removes a file or an empty directory.
func (f *FS) Remove(name string) error {
	p, err := clean("remove", name)
	if err != nil {
		return err
	}
	return f.fsys.Remove(p)
}

// RemoveAll removes name and everything under it; a missing name is no
// error.
func (f *FS) RemoveAll(name string) error {
	p, err := clean("removeall", name)
	if err != nil {
		return err
	}
	return vfs.RemoveAll(f.fsys, p)
}

// Rename moves oldname to newname, replacing a file there.
func (f *FS) Rename(oldname, newname string) error {
	op, err := clean("rename", oldname)
	if err != nil {
		return err
	}
	np, err := clean("rename", newname)
	if err != nil {
		return err
	}
	return f.fsys.Rename(op, np)
}

// unreader is implemented by a vfs.FS that can tell whether a file is
// free to overwrite in place, and whether removing one costs nothing:
// cow.View's Unread and HoldsRemoved.
type unreader interface {
	Unread(name string) bool
	HoldsRemoved() bool
}

// ReuseForWrite renames oldname to newname and opens it for writing without
// truncation (Pebble recycles WAL files this way). On a cow writer with
// cow.Options.HoldRemoved that says some copier still reads oldname (it
// joined or reset since the file was written), it creates newname and
// removes oldname instead, as Pebble allows: reusing the file would make
// every copier preserve each block the new log overwrites, where a new
// file costs them nothing (they preserved its absence) and the removal
// copies nothing. Without holds the removal would copy the old log whole,
// as the rename does, and a new log is slower to sync (each fdatasync also
// writes its size): it recycles.
func (f *FS) ReuseForWrite(oldname, newname string, cat pvfs.DiskWriteCategory) (pvfs.File, error) {
	op, err := clean("reuseforwrite", oldname)
	if err != nil {
		return nil, err
	}
	if u, ok := f.fsys.(unreader); ok && u.HoldsRemoved() && !u.Unread(op) {
		nf, err := f.Create(newname, cat)
		if err != nil {
			return nil, err
		}
		if err := f.fsys.Remove(op); err != nil {
			nf.Close()
			return nil, err
		}
		return nf, nil
	}
	if err := f.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return f.open("reuseforwrite", newname, os.O_RDWR)
}

// MkdirAll creates a directory and its missing parents.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	p, err := clean("mkdirall", dir)
	if err != nil {
		return err
	}
	return f.fsys.MkdirAll(p, perm)
}

// Lock takes the vfs.FS's exclusive lock on name (see vfs.FS.Lock: on a cow
// copier it excludes the copier's own engine only).
func (f *FS) Lock(name string) (io.Closer, error) {
	p, err := clean("lock", name)
	if err != nil {
		return nil, err
	}
	return f.fsys.Lock(p)
}

// List returns the sorted names in dir.
func (f *FS) List(dir string) ([]string, error) {
	p, err := clean("list", dir)
	if err != nil {
		return nil, err
	}
	return f.fsys.List(p)
}

// Stat describes name.
func (f *FS) Stat(name string) (pvfs.FileInfo, error) {
	p, err := clean("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.fsys.Stat(p)
	if err != nil {
		return nil, err
	}
	return fileInfo{fi}, nil
}

// PathBase is path.Base.
func (f *FS) PathBase(p string) string { return path.Base(p) }

// PathJoin is path.Join.
func (f *FS) PathJoin(elem ...string) string { return path.Join(elem...) }

// PathDir is path.Dir.
func (f *FS) PathDir(p string) string { return path.Dir(p) }

// GetDiskUsage is not supported (Pebble's vfs.ErrUnsupported): a vfs.FS
// does not know its device.
func (f *FS) GetDiskUsage(string) (pvfs.DiskUsage, error) {
	return pvfs.DiskUsage{}, pvfs.ErrUnsupported
}

// Unwrap returns nil: FS wraps no Pebble FS.
func (f *FS) Unwrap() pvfs.FS { return nil }

// fileInfo adds Pebble's DeviceID (always zero) to an fs.FileInfo.
type fileInfo struct{ fs.FileInfo }

func (fileInfo) DeviceID() pvfs.DeviceID { return pvfs.DeviceID{} }
