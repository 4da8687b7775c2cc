package vfstest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/holeycow/holeycow/vfs"
)

// watch wraps the FS under test so that every result is checked against
// the rules that hold for every call, whatever the check is about:
//
//   - every error is an *fs.PathError (not wrapped in anything else) with
//     Op set, Path naming the argument (or one of its parent directories,
//     or for a File the name it was opened with) and a non-nil Err;
//   - ReadAt and WriteAt return 0 <= n <= len(p), and an error when
//     n < len(p); ReadAt's end-of-file error is io.EOF itself, as
//     io.ReaderAt callers compare it with ==.
//
// The wrapper has the optional interfaces (vfs.RemoveAller, and
// vfs.DataSyncer on files) exactly when the wrapped value has them.
func watch(raw vfs.FS, c *checker) vfs.FS {
	w := &watchedFS{raw: raw, c: c}
	if _, ok := raw.(vfs.RemoveAller); ok {
		return watchedRemoveAllFS{w}
	}
	return w
}

// watchedFS is the watching wrapper of an FS.
//
// Concurrency: it adds no state of its own beyond the checker, whose
// methods are safe for concurrent use, so it is as safe as the FS it wraps.
type watchedFS struct {
	raw vfs.FS
	c   *checker
}

type watchedRemoveAllFS struct{ *watchedFS }

var (
	_ vfs.FS          = (*watchedFS)(nil)
	_ vfs.RemoveAller = watchedRemoveAllFS{}
)

// checkErr reports err unless it is a well-formed *fs.PathError for a call
// about names.
func (c *checker) checkErr(call string, err error, names ...string) {
	if err == nil {
		return
	}
	pe, ok := err.(*fs.PathError)
	if !ok {
		c.errorf("%s: error %q is a %T, want an *fs.PathError", call, err, err)
		return
	}
	if pe == nil {
		c.errorf("%s: error is a nil *fs.PathError in a non-nil error interface", call)
		return
	}
	if pe.Op == "" {
		c.errorf("%s: error %q has an empty Op", call, err)
	}
	if pe.Err == nil {
		c.errorf("%s: error %q wraps nil", call, err)
	}
	for _, n := range names {
		if pe.Path == n || strings.HasPrefix(n, pe.Path+"/") {
			return
		}
	}
	c.errorf("%s: error %q has Path %q, want the path of the call (%q)", call, err, pe.Path, strings.Join(names, `" or "`))
}

func (w *watchedFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	call := fmt.Sprintf("Open(%q, %s)", name, flagString(flag))
	f, err := w.raw.Open(name, flag, perm)
	w.c.checkErr(call, err, name)
	if err != nil {
		if f != nil {
			w.c.errorf("%s returned a non-nil File with error %v", call, err)
		}
		return nil, err
	}
	if f == nil {
		w.c.fatalf("%s returned a nil File and a nil error", call)
	}
	wf := &watchedFile{raw: f, c: w.c, name: name}
	wf.untrack = w.c.track(f.Close)
	if _, ok := f.(vfs.DataSyncer); ok {
		return watchedSyncFile{wf}, nil
	}
	return wf, nil
}

func (w *watchedFS) Remove(name string) error {
	err := w.raw.Remove(name)
	w.c.checkErr(fmt.Sprintf("Remove(%q)", name), err, name)
	return err
}

func (w *watchedFS) Rename(oldname, newname string) error {
	err := w.raw.Rename(oldname, newname)
	w.c.checkErr(fmt.Sprintf("Rename(%q, %q)", oldname, newname), err, oldname, newname)
	return err
}

func (w *watchedFS) Stat(name string) (fs.FileInfo, error) {
	call := fmt.Sprintf("Stat(%q)", name)
	fi, err := w.raw.Stat(name)
	w.c.checkErr(call, err, name)
	if err == nil && fi == nil {
		w.c.fatalf("%s returned a nil FileInfo and a nil error", call)
	}
	return fi, err
}

func (w *watchedFS) List(dir string) ([]string, error) {
	names, err := w.raw.List(dir)
	w.c.checkErr(fmt.Sprintf("List(%q)", dir), err, dir)
	return names, err
}

func (w *watchedFS) MkdirAll(dir string, perm fs.FileMode) error {
	err := w.raw.MkdirAll(dir, perm)
	w.c.checkErr(fmt.Sprintf("MkdirAll(%q)", dir), err, dir)
	return err
}

func (w *watchedFS) Lock(name string) (io.Closer, error) {
	call := fmt.Sprintf("Lock(%q)", name)
	l, err := w.raw.Lock(name)
	w.c.checkErr(call, err, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		w.c.fatalf("%s returned a nil io.Closer and a nil error", call)
	}
	wl := &watchedLock{raw: l, c: w.c, name: name}
	wl.untrack = w.c.track(l.Close)
	return wl, nil
}

func (w *watchedFS) SyncDir(dir string) error {
	err := w.raw.SyncDir(dir)
	w.c.checkErr(fmt.Sprintf("SyncDir(%q)", dir), err, dir)
	return err
}

func (w watchedRemoveAllFS) RemoveAll(name string) error {
	err := w.raw.(vfs.RemoveAller).RemoveAll(name)
	w.c.checkErr(fmt.Sprintf("RemoveAll(%q)", name), err, name)
	return err
}

// watchedLock is the watching wrapper of a lock. Like the locks it wraps,
// it is meant to be closed once, by one goroutine.
type watchedLock struct {
	raw     io.Closer
	c       *checker
	name    string
	untrack func()
}

func (l *watchedLock) Close() error {
	err := l.raw.Close()
	l.c.checkErr(fmt.Sprintf("Close of Lock(%q)", l.name), err, l.name)
	l.untrack()
	return err
}

// watchedFile is the watching wrapper of a File; it is as safe for
// concurrent use as the File it wraps.
type watchedFile struct {
	raw     vfs.File
	c       *checker
	name    string // as passed to Open
	untrack func()
}

type watchedSyncFile struct{ *watchedFile }

var (
	_ vfs.File       = (*watchedFile)(nil)
	_ vfs.DataSyncer = watchedSyncFile{}
)

func (f *watchedFile) call(format string, args ...any) string {
	return fmt.Sprintf("File(%q).", f.name) + fmt.Sprintf(format, args...)
}

func (f *watchedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.raw.ReadAt(p, off)
	call := f.call("ReadAt(len %d, off %d)", len(p), off)
	f.c.checkCount(call, n, len(p), err)
	if errors.Is(err, io.EOF) {
		if err != io.EOF {
			f.c.errorf("%s: end-of-file error %q is a %T wrapping io.EOF, want io.EOF itself (io.ReaderAt callers compare with ==)", call, err, err)
		}
	} else {
		f.c.checkErr(call, err, f.name)
	}
	return n, err
}

func (f *watchedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.raw.WriteAt(p, off)
	call := f.call("WriteAt(len %d, off %d)", len(p), off)
	f.c.checkCount(call, n, len(p), err)
	f.c.checkErr(call, err, f.name)
	return n, err
}

func (c *checker) checkCount(call string, n, size int, err error) {
	switch {
	case n < 0 || n > size:
		c.errorf("%s returned n = %d, want 0 <= n <= %d", call, n, size)
	case n < size && err == nil:
		c.errorf("%s returned n = %d < %d with a nil error", call, n, size)
	}
}

func (f *watchedFile) Truncate(size int64) error {
	err := f.raw.Truncate(size)
	f.c.checkErr(f.call("Truncate(%d)", size), err, f.name)
	return err
}

func (f *watchedFile) Sync() error {
	err := f.raw.Sync()
	f.c.checkErr(f.call("Sync()"), err, f.name)
	return err
}

func (f *watchedFile) Size() (int64, error) {
	size, err := f.raw.Size()
	f.c.checkErr(f.call("Size()"), err, f.name)
	if err == nil && size < 0 {
		f.c.errorf("%s = %d, want >= 0", f.call("Size()"), size)
	}
	return size, err
}

func (f *watchedFile) Close() error {
	err := f.raw.Close()
	f.c.checkErr(f.call("Close()"), err, f.name)
	f.untrack()
	return err
}

func (f *watchedFile) Name() string { return f.raw.Name() }

func (f watchedSyncFile) SyncData() error {
	err := f.raw.(vfs.DataSyncer).SyncData()
	f.c.checkErr(f.call("SyncData()"), err, f.name)
	return err
}

// flagString formats an Open flag as Go source would spell it.
func flagString(flag int) string {
	var parts []string
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		parts = append(parts, "O_RDONLY")
	case os.O_WRONLY:
		parts = append(parts, "O_WRONLY")
	case os.O_RDWR:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_WRONLY|O_RDWR")
	}
	rest := flag &^ (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	for _, b := range []struct {
		bit  int
		name string
	}{{os.O_CREATE, "O_CREATE"}, {os.O_EXCL, "O_EXCL"}, {os.O_TRUNC, "O_TRUNC"}, {os.O_APPEND, "O_APPEND"}, {os.O_SYNC, "O_SYNC"}} {
		if rest&b.bit == b.bit {
			parts = append(parts, b.name)
			rest &^= b.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(parts, "|")
}
