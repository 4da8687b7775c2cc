package vfstest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// The FSs in this file each wrap a good FS and break one thing. Check must
// notice every one of them.

// newGood returns the FS the broken ones wrap.
func newGood(tb testing.TB) vfs.FS { return vfs.NewMem() }

// exclIgnoredFS drops O_EXCL.
type exclIgnoredFS struct{ vfs.FS }

func (b exclIgnoredFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	return b.FS.Open(name, flag&^os.O_EXCL, perm)
}

// readOnlyWritableFS opens O_RDONLY files for writing too.
type readOnlyWritableFS struct{ vfs.FS }

func (b readOnlyWritableFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) == os.O_RDONLY {
		flag |= os.O_RDWR
	}
	return b.FS.Open(name, flag, perm)
}

// fileWrapFS wraps every file it opens with wrap.
type fileWrapFS struct {
	vfs.FS
	wrap func(vfs.File) vfs.File
}

func (b fileWrapFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := b.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return b.wrap(f), nil
}

// noShrinkFile ignores Truncate to a smaller size.
type noShrinkFile struct{ vfs.File }

func (f noShrinkFile) Truncate(size int64) error {
	cur, err := f.File.Size()
	if err != nil {
		return err
	}
	if size < cur {
		return nil
	}
	return f.File.Truncate(size)
}

// garbageHoleFile fills the gap left by a write past the end, or by
// Truncate growing, with 0xEE instead of zeros.
type garbageHoleFile struct{ vfs.File }

func (f garbageHoleFile) fill(to int64) {
	if size, err := f.File.Size(); err == nil && to > size {
		_, _ = f.File.WriteAt(bytes.Repeat([]byte{0xEE}, int(to-size)), size)
	}
}

func (f garbageHoleFile) WriteAt(p []byte, off int64) (int, error) {
	f.fill(off)
	return f.File.WriteAt(p, off)
}

func (f garbageHoleFile) Truncate(size int64) error {
	f.fill(size)
	return f.File.Truncate(size)
}

// noEOFFile returns a nil error instead of io.EOF.
type noEOFFile struct{ vfs.File }

func (f noEOFFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// negativeOKFile accepts negative offsets as no-ops.
type negativeOKFile struct{ vfs.File }

func (f negativeOKFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		clear(p)
		return len(p), nil
	}
	return f.File.ReadAt(p, off)
}

func (f negativeOKFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return len(p), nil
	}
	return f.File.WriteAt(p, off)
}

// doubleCloseNilFile returns nil from a second Close.
type doubleCloseNilFile struct {
	vfs.File
	closed *atomic.Bool
}

func (f doubleCloseNilFile) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	return f.File.Close()
}

// zombieFile keeps working after Close.
type zombieFile struct {
	vfs.File
	closed *atomic.Bool
}

func (f zombieFile) Close() error {
	if f.closed.Swap(true) {
		return &fs.PathError{Op: "close", Path: f.Name(), Err: fs.ErrClosed}
	}
	return nil // the inner file is left open, so calls still reach it
}

// listFS rewrites List results.
type listFS struct {
	vfs.FS
	edit func([]string) []string
}

func (b listFS) List(dir string) ([]string, error) {
	names, err := b.FS.List(dir)
	if err != nil {
		return nil, err
	}
	return b.edit(names), nil
}

// staleListFS returns the first List result of each directory forever.
type staleListFS struct {
	vfs.FS
	mu    *sync.Mutex
	cache map[string][]string
}

func (b staleListFS) List(dir string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if names, ok := b.cache[dir]; ok {
		return slices.Clone(names), nil
	}
	names, err := b.FS.List(dir)
	if err == nil {
		b.cache[dir] = slices.Clone(names)
	}
	return names, err
}

// sharedLockFS hands out locks without exclusion.
type sharedLockFS struct{ vfs.FS }

func (b sharedLockFS) Lock(name string) (io.Closer, error) {
	f, err := b.FS.Open(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// blockingLockFS makes a second Lock wait for the first instead of
// failing with vfs.ErrLocked (flock without LOCK_NB). It gives up when the
// test ends.
type blockingLockFS struct {
	vfs.FS
	done  <-chan struct{}
	mu    *sync.Mutex
	locks map[string]chan struct{}
}

func (b blockingLockFS) Lock(name string) (io.Closer, error) {
	if err := vfs.CheckPath("lock", name); err != nil {
		return nil, err
	}
	for {
		b.mu.Lock()
		held, ok := b.locks[name]
		if !ok {
			ch := make(chan struct{})
			b.locks[name] = ch
			b.mu.Unlock()
			release := func() {
				b.mu.Lock()
				defer b.mu.Unlock()
				if b.locks[name] == ch {
					delete(b.locks, name)
					close(ch)
				}
			}
			l, err := b.FS.Lock(name)
			if err != nil {
				release()
				return nil, err
			}
			return closerFunc(func() error { release(); return l.Close() }), nil
		}
		b.mu.Unlock()
		select {
		case <-held:
		case <-b.done:
			return nil, &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrLocked}
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// cleaningFS cleans bad paths instead of refusing them.
type cleaningFS struct{ vfs.FS }

func clean(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "."
	}
	return c
}

func (b cleaningFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	return b.FS.Open(clean(name), flag, perm)
}
func (b cleaningFS) Stat(name string) (fs.FileInfo, error) { return b.FS.Stat(clean(name)) }
func (b cleaningFS) Remove(name string) error              { return b.FS.Remove(clean(name)) }

// bareErrorFS returns Stat's errors without their *fs.PathError.
type bareErrorFS struct{ vfs.FS }

func (b bareErrorFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := b.FS.Stat(name)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	return fi, nil
}

// wrongPathFS reports errors with a host path.
type wrongPathFS struct{ vfs.FS }

func (b wrongPathFS) Remove(name string) error {
	err := b.FS.Remove(name)
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: pe.Op, Path: "/srv/data/" + name, Err: pe.Err}
	}
	return err
}

// openTracker tracks the files open under each name.
type openTracker struct {
	mu    sync.Mutex
	files map[string][]*brokenOnRemoveFile
}

// brokenOnRemoveFS breaks the handles of a file when it is removed.
type brokenOnRemoveFS struct {
	vfs.FS
	t *openTracker
}

type brokenOnRemoveFile struct {
	vfs.File
	gone atomic.Bool
}

func (b brokenOnRemoveFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := b.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	bf := &brokenOnRemoveFile{File: f}
	b.t.mu.Lock()
	b.t.files[name] = append(b.t.files[name], bf)
	b.t.mu.Unlock()
	return bf, nil
}

func (b brokenOnRemoveFS) Remove(name string) error {
	err := b.FS.Remove(name)
	if err == nil {
		b.t.mu.Lock()
		for _, f := range b.t.files[name] {
			f.gone.Store(true)
		}
		b.t.mu.Unlock()
	}
	return err
}

func (f *brokenOnRemoveFile) ReadAt(p []byte, off int64) (int, error) {
	if f.gone.Load() {
		return 0, &fs.PathError{Op: "read", Path: f.Name(), Err: fs.ErrNotExist}
	}
	return f.File.ReadAt(p, off)
}

// noReplaceFS refuses to rename over an existing file.
type noReplaceFS struct{ vfs.FS }

func (b noReplaceFS) Rename(oldname, newname string) error {
	if _, err := b.FS.Stat(newname); err == nil && oldname != newname {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	return b.FS.Rename(oldname, newname)
}

// panicFS panics in List.
type panicFS struct{ vfs.FS }

func (panicFS) List(string) ([]string, error) { panic("boom in List") }

func TestCheck_broken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newFS func(tb testing.TB) vfs.FS
		want  []string // substrings of the error
	}{{
		name:  "exclIgnored",
		newFS: func(tb testing.TB) vfs.FS { return exclIgnoredFS{newGood(tb)} },
		want:  []string{"open/excl:", "O_EXCL", "want fs.ErrExist"},
	}, {
		name:  "readOnlyWritable",
		newFS: func(tb testing.TB) vfs.FS { return readOnlyWritableFS{newGood(tb)} },
		want:  []string{"open/readonly:", "want vfs.ErrReadOnly"},
	}, {
		name: "truncateNoShrink",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return noShrinkFile{f} }}
		},
		want: []string{"io/truncate:", "Size() = 11, want 5"},
	}, {
		name: "garbageHoles",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return garbageHoleFile{f} }}
		},
		want: []string{"io/holes:", `\xee`},
	}, {
		name: "readAtNoEOF",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return noEOFFile{f} }}
		},
		want: []string{"io/eof:", "want 2, io.EOF", "with a nil error"},
	}, {
		name: "negativeOffsetAccepted",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return negativeOKFile{f} }}
		},
		want: []string{"io/negative:", "ReadAt at offset -1", "want fs.ErrInvalid"},
	}, {
		name: "doubleCloseNil",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return doubleCloseNilFile{f, new(atomic.Bool)} }}
		},
		want: []string{"close: second Close: got error nil, want fs.ErrClosed"},
	}, {
		name: "usableAfterClose",
		newFS: func(tb testing.TB) vfs.FS {
			return fileWrapFS{newGood(tb), func(f vfs.File) vfs.File { return zombieFile{f, new(atomic.Bool)} }}
		},
		want: []string{"close: ReadAt after Close: got error nil, want fs.ErrClosed", "WriteAt after Close"},
	}, {
		name: "listUnsorted",
		newFS: func(tb testing.TB) vfs.FS {
			return listFS{newGood(tb), func(n []string) []string { slices.Reverse(n); return n }}
		},
		want: []string{"list:", `want ["a" "b" "c" "d"]`},
	}, {
		name: "listMissingEntry",
		newFS: func(tb testing.TB) vfs.FS {
			return listFS{newGood(tb), func(n []string) []string {
				if len(n) > 2 {
					n = n[:len(n)-1]
				}
				return n
			}}
		},
		want: []string{"list:", `= ["a" "b" "c"], want ["a" "b" "c" "d"]`},
	}, {
		name: "listStale",
		newFS: func(tb testing.TB) vfs.FS {
			return staleListFS{newGood(tb), new(sync.Mutex), map[string][]string{}}
		},
		want: []string{"list:", `after creating c, a, b and d/y: List(".") = [], want`},
	}, {
		name:  "lockNotExclusive",
		newFS: func(tb testing.TB) vfs.FS { return sharedLockFS{newGood(tb)} },
		want:  []string{"lock/exclusive:", "want vfs.ErrLocked", "lock/concurrent:", "succeeded, want exactly 1"},
	}, {
		name:  "badPathCleaned",
		newFS: func(tb testing.TB) vfs.FS { return cleaningFS{newGood(tb)} },
		want:  []string{"paths:", `Stat("a/../b") succeeded`, `Open("/abs", O_RDONLY) succeeded`},
	}, {
		name:  "bareSentinelError",
		newFS: func(tb testing.TB) vfs.FS { return bareErrorFS{newGood(tb)} },
		want:  []string{`Stat("missing"): error "file does not exist" is a *errors.errorString, want an *fs.PathError`},
	}, {
		name:  "hostPathInError",
		newFS: func(tb testing.TB) vfs.FS { return wrongPathFS{newGood(tb)} },
		want:  []string{`has Path "/srv/data/f", want the path of the call ("f")`},
	}, {
		name: "removedOpenFileBroken",
		newFS: func(tb testing.TB) vfs.FS {
			return brokenOnRemoveFS{newGood(tb), &openTracker{files: map[string][]*brokenOnRemoveFile{}}}
		},
		want: []string{"remove/open: handle on a removed file: ReadAt"},
	}, {
		name:  "renameNoReplace",
		newFS: func(tb testing.TB) vfs.FS { return noReplaceFS{newGood(tb)} },
		want:  []string{`rename/replace: Rename("a", "b") over an existing file: unexpected error`},
	}, {
		name:  "panics",
		newFS: func(tb testing.TB) vfs.FS { return panicFS{newGood(tb)} },
		want:  []string{"list: panic: boom in List", "rename/basic: panic: boom in List"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(t, tc.newFS)
			if err == nil {
				t.Fatalf("Check found no problem, want one mentioning %q", tc.want)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Check's error does not mention %q; it is:\n%s", w, msg)
				}
			}
			if testing.Verbose() {
				t.Logf("Check found:\n%s", msg)
			}
		})
	}
}

func TestCheck_broken_blockingLock(t *testing.T) {
	old := checkTimeout
	checkTimeout = time.Second
	t.Cleanup(func() { checkTimeout = old })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	err := Check(t, func(tb testing.TB) vfs.FS {
		return blockingLockFS{newGood(tb), done, new(sync.Mutex), map[string]chan struct{}{}}
	})
	if err == nil || !strings.Contains(err.Error(), "lock/exclusive: did not finish within 1s") {
		t.Fatalf("Check's error does not report the deadlocked check; it is:\n%v", err)
	}
}

func TestCheck_newFS_nil(t *testing.T) {
	err := Check(t, func(testing.TB) vfs.FS { return nil })
	if err == nil || !strings.Contains(err.Error(), "open/create: newFS returned nil") {
		t.Fatalf("Check(newFS returning nil) = %v, want a problem per check", err)
	}
}

func TestCheck_joinsProblems(t *testing.T) {
	err := Check(t, func(tb testing.TB) vfs.FS { return panicFS{newGood(tb)} })
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Check's error is a %T, want one made by errors.Join", err)
	}
	checksSeen := map[string]bool{}
	for _, e := range j.Unwrap() {
		name, _, ok := strings.Cut(strings.TrimPrefix(e.Error(), "vfstest: "), ":")
		if !ok || !strings.HasPrefix(e.Error(), "vfstest: ") {
			t.Errorf("problem %q does not start with \"vfstest: <check>:\"", e)
		}
		checksSeen[name] = true
	}
	if len(checksSeen) < 5 {
		t.Errorf("problems came from checks %v; a List that panics should fail at least 5", checksSeen)
	}
}
