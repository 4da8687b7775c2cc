package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"testing"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/vfs"
)

// The differential test runs the same random operations on an OSFS and a
// MemFS and requires the same results: data, sizes, names, and errors down
// to their Op, Path and sentinel. The OS is the model of the memory FS,
// and both are held to the package's error contract.

// diffNames are the paths the operations use: nested, overlapping, and
// some under what may be a file.
var diffNames = []string{".", "a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "a/x", "e"}

// diffFlags are the open flags the operations use.
var diffFlags = func() []int {
	var flags []int
	for _, acc := range []int{os.O_RDONLY, os.O_WRONLY, os.O_RDWR} {
		for _, extra := range []int{0, os.O_CREATE, os.O_CREATE | os.O_EXCL, os.O_TRUNC, os.O_CREATE | os.O_TRUNC} {
			flags = append(flags, acc|extra)
		}
	}
	return flags
}()

// sentinels are the errors classify recognizes, in the order it tries them.
var sentinels = []error{
	fs.ErrNotExist, fs.ErrExist, fs.ErrClosed, fs.ErrInvalid, fs.ErrPermission,
	vfs.ErrLocked, vfs.ErrIsDir, vfs.ErrNotDir, vfs.ErrNotEmpty, vfs.ErrReadOnly,
	vfs.ErrWriteOnly, vfs.ErrTooLarge,
}

// classify describes err by what the contract promises: nil, io.EOF, or
// an *fs.PathError's Op, Path and sentinel.
func classify(err error) string {
	if err == nil {
		return "nil"
	}
	if err == io.EOF {
		return "EOF"
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return fmt.Sprintf("not a PathError: %T %v", err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return fmt.Sprintf("%s %q: %v", pe.Op, pe.Path, s)
		}
	}
	return fmt.Sprintf("no sentinel: %v", err)
}

// diffPair holds the same thing on both FSs.
type diffPair[T any] struct{ os, mem T }

type diffMachine struct {
	os    *vfs.OSFS
	mem   *vfs.MemFS
	files []diffPair[vfs.File]
	locks []diffPair[io.Closer]
}

func (m *diffMachine) same(t *rapid.T, what string, osv, memv any) {
	if fmt.Sprint(osv) != fmt.Sprint(memv) {
		t.Fatalf("%s: OS gives %v, Mem gives %v", what, osv, memv)
	}
}

func (m *diffMachine) sameErr(t *rapid.T, what string, oerr, merr error) {
	m.same(t, what, classify(oerr), classify(merr))
}

func (m *diffMachine) name(t *rapid.T, label string) string {
	return rapid.SampledFrom(diffNames).Draw(t, label)
}

func (m *diffMachine) file(t *rapid.T) (diffPair[vfs.File], bool) {
	if len(m.files) == 0 {
		return diffPair[vfs.File]{}, false
	}
	return m.files[rapid.IntRange(0, len(m.files)-1).Draw(t, "file")], true
}

func (m *diffMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"open": func(t *rapid.T) {
			name := m.name(t, "name")
			flag := rapid.SampledFrom(diffFlags).Draw(t, "flag")
			of, oerr := m.os.Open(name, flag, 0o644)
			mf, merr := m.mem.Open(name, flag, 0o644)
			m.sameErr(t, fmt.Sprintf("Open(%q, %#x)", name, flag), oerr, merr)
			if oerr == nil {
				m.files = append(m.files, diffPair[vfs.File]{of, mf})
			}
		},
		"write": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			data := rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "data")
			off := rapid.Int64Range(-1, 40).Draw(t, "off")
			on, oerr := f.os.WriteAt(data, off)
			mn, merr := f.mem.WriteAt(data, off)
			m.same(t, "WriteAt n", on, mn)
			m.sameErr(t, "WriteAt", oerr, merr)
		},
		"read": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			n := rapid.IntRange(0, 20).Draw(t, "n")
			off := rapid.Int64Range(-1, 50).Draw(t, "off")
			obuf, mbuf := make([]byte, n), make([]byte, n)
			on, oerr := f.os.ReadAt(obuf, off)
			mn, merr := f.mem.ReadAt(mbuf, off)
			m.same(t, "ReadAt n", on, mn)
			m.sameErr(t, "ReadAt", oerr, merr)
			if !bytes.Equal(obuf[:on], mbuf[:mn]) {
				t.Fatalf("ReadAt(%d, %d) of %q: OS read %q, Mem read %q", n, off, f.os.Name(), obuf[:on], mbuf[:mn])
			}
		},
		"truncate": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			size := rapid.Int64Range(-1, 50).Draw(t, "size")
			m.sameErr(t, "Truncate", f.os.Truncate(size), f.mem.Truncate(size))
		},
		"size": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			osz, oerr := f.os.Size()
			msz, merr := f.mem.Size()
			m.same(t, "Size", osz, msz)
			m.sameErr(t, "Size", oerr, merr)
		},
		"sync": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			if rapid.Bool().Draw(t, "data only") {
				m.sameErr(t, "SyncData", vfs.SyncData(f.os), vfs.SyncData(f.mem))
			} else {
				m.sameErr(t, "Sync", f.os.Sync(), f.mem.Sync())
			}
		},
		"close": func(t *rapid.T) {
			f, ok := m.file(t)
			if !ok {
				t.Skip("no file")
			}
			// Closed files stay in the list: later calls must fail alike.
			m.sameErr(t, "Close", f.os.Close(), f.mem.Close())
		},
		"remove": func(t *rapid.T) {
			name := m.name(t, "name")
			m.sameErr(t, "Remove", m.os.Remove(name), m.mem.Remove(name))
		},
		"removeall": func(t *rapid.T) {
			name := m.name(t, "name")
			m.sameErr(t, "RemoveAll", m.os.RemoveAll(name), m.mem.RemoveAll(name))
		},
		"rename": func(t *rapid.T) {
			from, to := m.name(t, "from"), m.name(t, "to")
			m.sameErr(t, fmt.Sprintf("Rename(%q, %q)", from, to), m.os.Rename(from, to), m.mem.Rename(from, to))
		},
		"mkdirall": func(t *rapid.T) {
			name := m.name(t, "name")
			m.sameErr(t, "MkdirAll", m.os.MkdirAll(name, 0o755), m.mem.MkdirAll(name, 0o755))
		},
		"syncdir": func(t *rapid.T) {
			name := m.name(t, "name")
			m.sameErr(t, "SyncDir", m.os.SyncDir(name), m.mem.SyncDir(name))
		},
		"stat": func(t *rapid.T) {
			name := m.name(t, "name")
			ofi, oerr := m.os.Stat(name)
			mfi, merr := m.mem.Stat(name)
			m.sameErr(t, "Stat", oerr, merr)
			if oerr == nil {
				m.same(t, "Stat name", ofi.Name(), mfi.Name())
				m.same(t, "Stat IsDir", ofi.IsDir(), mfi.IsDir())
				if !ofi.IsDir() {
					m.same(t, "Stat size", ofi.Size(), mfi.Size())
				}
			}
		},
		"list": func(t *rapid.T) {
			name := m.name(t, "name")
			onames, oerr := m.os.List(name)
			mnames, merr := m.mem.List(name)
			m.sameErr(t, "List", oerr, merr)
			m.same(t, "List", onames, mnames)
		},
		"lock": func(t *rapid.T) {
			name := m.name(t, "name")
			ol, oerr := m.os.Lock(name)
			ml, merr := m.mem.Lock(name)
			m.sameErr(t, "Lock", oerr, merr)
			if oerr == nil {
				m.locks = append(m.locks, diffPair[io.Closer]{ol, ml})
			}
		},
		"unlock": func(t *rapid.T) {
			if len(m.locks) == 0 {
				t.Skip("no lock")
			}
			l := m.locks[rapid.IntRange(0, len(m.locks)-1).Draw(t, "lock")]
			m.sameErr(t, "unlock", l.os.Close(), l.mem.Close())
		},
		"": func(t *rapid.T) {
			if d := diffSnapshots(snapshot(t, m.mem), snapshot(t, m.os)); d != "" {
				t.Fatalf("Mem differs from OS:%s", d)
			}
			if err := m.mem.Check(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func (m *diffMachine) cleanup() {
	for _, f := range m.files {
		f.os.Close()
		f.mem.Close()
	}
	for _, l := range m.locks {
		l.os.Close()
		l.mem.Close()
	}
}

// TestMemFS_differential checks that MemFS behaves as OSFS does. Rerun a
// failure with the -rapid.seed it prints.
func TestMemFS_differential(t *testing.T) {
	parent := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp(parent, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		m := &diffMachine{os: vfs.OS(dir), mem: vfs.NewMem()}
		defer m.cleanup()
		t.Repeat(m.actions())
	})
}
