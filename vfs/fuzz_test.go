package vfs_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/holeycow/holeycow/vfs"
)

// validPath is CheckPath's contract, written out independently.
func validPath(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	if name == "." {
		return true
	}
	if name == "" || strings.ContainsRune(name, 0) {
		return false
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." || len(elem) > vfs.MaxNameLen {
			return false
		}
	}
	return true
}

var pathSeeds = []string{
	"", ".", "..", "/", "a", "a/b", "/a", "a/", "a//b", "a/./b", "a/../b", "./a",
	"a\x00b", "\\", "a\\..\\b", "..a", "a..", "...", strings.Repeat("n", 255),
	strings.Repeat("n", 256), "d/" + strings.Repeat("n", 256) + "/x", "\xff\xfe",
}

func TestCheckPath(t *testing.T) {
	for _, name := range pathSeeds {
		err := vfs.CheckPath("op", name)
		if want := validPath(name); (err == nil) != want {
			t.Errorf("CheckPath(%q) = %v, want valid %v", name, err, want)
		}
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := vfs.CheckPath("op", name)
		if want := validPath(name); (err == nil) != want {
			t.Fatalf("CheckPath(%q) = %v, want valid %v", name, err, want)
		}
		if err != nil {
			wantErr(t, err, "op", name, fs.ErrInvalid)
		}
	})
}

// fuzzNames calls every name-taking method of fsys with name. Nothing may
// panic; an invalid name must get fs.ErrInvalid naming it; any other error
// must be an *fs.PathError wrapping one of the sentinels.
func fuzzNames(t *testing.T, fsys vfs.FS, name string, flag int) {
	valid := vfs.CheckPath("op", name) == nil
	check := func(what string, err error) {
		t.Helper()
		if !valid {
			if !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("%s(%q) = %v, want fs.ErrInvalid", what, name, err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != name {
				t.Fatalf("%s(%q) = %v, want an *fs.PathError naming %q", what, name, err, name)
			}
			return
		}
		if err == nil {
			return
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op == "" {
			t.Fatalf("%s(%q) = %T %v, want an *fs.PathError", what, name, err, err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("%s(%q) = %v, which wraps no sentinel", what, name, err)
	}
	f, err := fsys.Open(name, flag, 0o644)
	check("Open", err)
	if err == nil {
		_, err = f.WriteAt([]byte("x"), 0)
		if err != nil && !errors.Is(err, vfs.ErrReadOnly) {
			t.Fatalf("WriteAt on %q: %v", name, err)
		}
		must(t, f.Close())
	}
	_, err = fsys.Stat(name)
	check("Stat", err)
	_, err = fsys.List(name)
	check("List", err)
	check("SyncDir", fsys.SyncDir(name))
	l, err := fsys.Lock(name)
	check("Lock", err)
	if err == nil {
		must(t, l.Close())
	}
	check("Rename", fsys.Rename(name, "renamed"))
	check("Rename", fsys.Rename("renamed", name))
	check("MkdirAll", fsys.MkdirAll(name, 0o755))
	check("Remove", fsys.Remove(name))
	check("RemoveAll", vfs.RemoveAll(fsys, name))
}

func fuzzNamesTree(t *testing.T, fsys vfs.FS) {
	must(t, fsys.MkdirAll("d/e", 0o755))
	must(t, vfs.WriteFile(fsys, "f", []byte("f"), 0o644))
	must(t, vfs.WriteFile(fsys, "d/g", []byte("g"), 0o644))
}

func addNameSeeds(f *testing.F) {
	for i, s := range append(pathSeeds, "d", "d/e", "d/g", "f", "f/x", "d/e/new") {
		f.Add(s, uint8(i))
	}
}

// fuzzFlags are the flags the name fuzzers open with, by the fuzzed index.
var fuzzFlags = []int{os.O_RDONLY, os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_EXCL, os.O_RDWR | os.O_TRUNC, os.O_RDWR | os.O_APPEND}

func FuzzMemFS_names(f *testing.F) {
	addNameSeeds(f)
	f.Fuzz(func(t *testing.T, name string, flag uint8) {
		m := vfs.NewMem()
		fuzzNamesTree(t, m)
		fuzzNames(t, m, name, fuzzFlags[int(flag)%len(fuzzFlags)])
		if err := m.Check(); err != nil {
			t.Fatal(err)
		}
		if err := m.CrashClone(vfs.CrashOptions{Seed: int64(flag), KeepUnsynced: 0.5}).Check(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzOSFS_names(f *testing.F) {
	addNameSeeds(f)
	f.Fuzz(func(t *testing.T, name string, flag uint8) {
		o := vfs.OS(t.TempDir())
		fuzzNamesTree(t, o)
		fuzzNames(t, o, name, fuzzFlags[int(flag)%len(fuzzFlags)])
	})
}
