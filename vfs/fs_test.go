package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// The tests in this file hold OSFS and MemFS to the same contract.

// setupTree creates the file f ("data"), the directory d with the file
// d/g, and the empty directory e.
func setupTree(t *testing.T, fsys vfs.FS) {
	t.Helper()
	must(t, vfs.WriteFile(fsys, "f", []byte("data"), 0o644))
	must(t, fsys.MkdirAll("d", 0o755))
	must(t, vfs.WriteFile(fsys, "d/g", []byte("g"), 0o644))
	must(t, fsys.MkdirAll("e", 0o755))
}

func TestFS_errors_namespace(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		setupTree(t, fsys)
		openErr := func(name string, flag int) error {
			f, err := fsys.Open(name, flag, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		}
		lockErr := func(name string) error {
			l, err := fsys.Lock(name)
			if err == nil {
				l.Close()
			}
			return err
		}
		statErr := func(name string) error { _, err := fsys.Stat(name); return err }
		listErr := func(name string) error { _, err := fsys.List(name); return err }
		removeAll := func(name string) error { return vfs.RemoveAll(fsys, name) }
		const rw, create, excl = os.O_RDWR, os.O_CREATE, os.O_EXCL
		long := string(bytes.Repeat([]byte("n"), vfs.MaxNameLen+1))
		for _, tc := range []struct {
			what     string
			err      error
			op, path string
			want     error
		}{
			{"Open missing", openErr("missing", rw), "open", "missing", fs.ErrNotExist},
			{"Open missing parent", openErr("no/f", rw|create), "open", "no/f", fs.ErrNotExist},
			{"Open under a file", openErr("f/x", rw|create), "open", "f/x", vfs.ErrNotDir},
			{"Open a directory", openErr("d", os.O_RDONLY), "open", "d", vfs.ErrIsDir},
			{"Open a directory O_CREATE", openErr("d", rw|create), "open", "d", vfs.ErrIsDir},
			{"Open the root", openErr(".", os.O_RDONLY), "open", ".", vfs.ErrIsDir},
			{"Open the root O_EXCL", openErr(".", rw|create|excl), "open", ".", fs.ErrExist},
			{"Open a directory O_EXCL", openErr("d", rw|create|excl), "open", "d", fs.ErrExist},
			{"Open a file O_EXCL", openErr("f", rw|create|excl), "open", "f", fs.ErrExist},
			{"Open O_APPEND", openErr("f", rw|os.O_APPEND), "open", "f", fs.ErrInvalid},
			{"Open bad path", openErr("a/../f", rw), "open", "a/../f", fs.ErrInvalid},
			{"Open NUL", openErr("a\x00b", rw|create), "open", "a\x00b", fs.ErrInvalid},
			{"Open long name", openErr(long, rw|create), "open", long, fs.ErrInvalid},
			{"Remove root", fsys.Remove("."), "remove", ".", fs.ErrInvalid},
			{"Remove missing", fsys.Remove("missing"), "remove", "missing", fs.ErrNotExist},
			{"Remove non-empty", fsys.Remove("d"), "remove", "d", vfs.ErrNotEmpty},
			{"Remove under a file", fsys.Remove("f/x"), "remove", "f/x", vfs.ErrNotDir},
			{"Rename missing", fsys.Rename("missing", "x"), "rename", "missing", fs.ErrNotExist},
			{"Rename into missing dir", fsys.Rename("f", "no/f"), "rename", "f", fs.ErrNotExist},
			{"Rename under a file", fsys.Rename("d/g", "f/g"), "rename", "d/g", vfs.ErrNotDir},
			{"Rename file onto dir", fsys.Rename("f", "e"), "rename", "f", fs.ErrExist},
			{"Rename dir onto dir", fsys.Rename("d", "e"), "rename", "d", fs.ErrExist},
			{"Rename dir onto itself", fsys.Rename("e", "e"), "rename", "e", fs.ErrExist},
			{"Rename dir onto file", fsys.Rename("e", "f"), "rename", "e", vfs.ErrNotDir},
			{"Rename dir into itself", fsys.Rename("d", "d/sub"), "rename", "d", fs.ErrInvalid},
			{"Rename root", fsys.Rename(".", "x"), "rename", ".", fs.ErrInvalid},
			{"Rename onto root", fsys.Rename("f", "."), "rename", "f", fs.ErrInvalid},
			{"Rename bad new name", fsys.Rename("f", "/x"), "rename", "/x", fs.ErrInvalid},
			{"Stat missing", statErr("missing"), "stat", "missing", fs.ErrNotExist},
			{"Stat under a file", statErr("f/x"), "stat", "f/x", vfs.ErrNotDir},
			{"Stat bad path", statErr(""), "stat", "", fs.ErrInvalid},
			{"List missing", listErr("missing"), "list", "missing", fs.ErrNotExist},
			{"List a file", listErr("f"), "list", "f", vfs.ErrNotDir},
			{"MkdirAll over a file", fsys.MkdirAll("f", 0o755), "mkdirall", "f", vfs.ErrNotDir},
			{"MkdirAll under a file", fsys.MkdirAll("f/x/y", 0o755), "mkdirall", "f/x/y", vfs.ErrNotDir},
			{"SyncDir missing", fsys.SyncDir("missing"), "syncdir", "missing", fs.ErrNotExist},
			{"SyncDir a file", fsys.SyncDir("f"), "syncdir", "f", vfs.ErrNotDir},
			{"Lock a directory", lockErr("d"), "lock", "d", vfs.ErrIsDir},
			{"Lock the root", lockErr("."), "lock", ".", vfs.ErrIsDir},
			{"Lock missing parent", lockErr("no/LOCK"), "lock", "no/LOCK", fs.ErrNotExist},
			{"RemoveAll under a file", removeAll("f/x"), "removeall", "f/x", vfs.ErrNotDir},
			{"RemoveAll bad path", removeAll("../x"), "removeall", "../x", fs.ErrInvalid},
		} {
			t.Run(tc.what, func(t *testing.T) { wantErr(t, tc.err, tc.op, tc.path, tc.want) })
		}
		// Nothing was changed by the failed calls.
		want := map[string]string{"f": "data", "d/": "", "d/g": "g", "e/": ""}
		if d := diffSnapshots(snapshot(t, fsys), want); d != "" {
			t.Errorf("after failed calls:%s", d)
		}
	})
}

func TestFS_errors_file(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		must(t, vfs.WriteFile(fsys, "f", []byte("data"), 0o644))
		ro := open(t, fsys, "f", os.O_RDONLY)
		wo := open(t, fsys, "f", os.O_WRONLY)
		rw := open(t, fsys, "f", os.O_RDWR)
		buf := make([]byte, 4)

		_, err := ro.WriteAt([]byte("x"), 0)
		wantErr(t, err, "write", "f", vfs.ErrReadOnly)
		wantErr(t, ro.Truncate(0), "truncate", "f", vfs.ErrReadOnly)
		_, err = wo.ReadAt(buf, 0)
		wantErr(t, err, "read", "f", vfs.ErrWriteOnly)
		_, err = rw.ReadAt(buf, -1)
		wantErr(t, err, "read", "f", fs.ErrInvalid)
		_, err = rw.WriteAt(buf, -1)
		wantErr(t, err, "write", "f", fs.ErrInvalid)
		wantErr(t, rw.Truncate(-1), "truncate", "f", fs.ErrInvalid)
		must(t, ro.Sync())
		must(t, vfs.SyncData(ro))

		for _, f := range []vfs.File{ro, wo, rw} {
			must(t, f.Close())
			wantErr(t, f.Close(), "close", "f", fs.ErrClosed)
			_, err = f.ReadAt(buf, 0)
			wantErr(t, err, "read", "f", fs.ErrClosed)
			_, err = f.WriteAt(buf, 0)
			wantErr(t, err, "write", "f", fs.ErrClosed)
			wantErr(t, f.Truncate(0), "truncate", "f", fs.ErrClosed)
			wantErr(t, f.Sync(), "sync", "f", fs.ErrClosed)
			wantErr(t, vfs.SyncData(f), "syncdata", "f", fs.ErrClosed)
			_, err = f.Size()
			wantErr(t, err, "size", "f", fs.ErrClosed)
			if f.Name() != "f" {
				t.Errorf("Name() after Close = %q", f.Name())
			}
		}
		wantContent(t, fsys, "f", "data")
	})
}

func TestFS_File_ReadAt_eof(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		f := open(t, fsys, "f", os.O_RDWR|os.O_CREATE)
		defer f.Close()
		writeAt(t, f, "hello", 0)
		for _, tc := range []struct {
			n, off int64
			want   string
			err    error
		}{
			{5, 0, "hello", nil},
			{3, 1, "ell", nil},
			{10, 3, "lo", io.EOF},
			{1, 5, "", io.EOF},
			{1, 1 << 40, "", io.EOF},
			{0, 1 << 40, "", nil},
		} {
			buf := make([]byte, tc.n)
			n, err := f.ReadAt(buf, tc.off)
			if string(buf[:n]) != tc.want || err != tc.err {
				t.Errorf("ReadAt(len %d, off %d) = %q, %v; want %q, %v", tc.n, tc.off, buf[:n], err, tc.want, tc.err)
			}
		}
	})
}

// TestFS_File_Truncate_zeros checks that growing after a shrink, by
// Truncate or by a write past the end, exposes zeros and never the bytes
// that were cut off.
func TestFS_File_Truncate_zeros(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		f := open(t, fsys, "f", os.O_RDWR|os.O_CREATE)
		defer f.Close()
		writeAt(t, f, "abcdefgh", 0)
		must(t, f.Truncate(2))
		must(t, f.Truncate(5))
		if got := content(t, f); got != "ab\x00\x00\x00" {
			t.Errorf("after Truncate(2), Truncate(5): %q", got)
		}
		must(t, f.Truncate(1))
		writeAt(t, f, "Z", 6)
		if got := content(t, f); got != "a\x00\x00\x00\x00\x00Z" {
			t.Errorf("after Truncate(1) and a write at 6: %q", got)
		}
		writeAt(t, f, "", 100)
		if size, err := f.Size(); err != nil || size != 7 {
			t.Errorf("Size after an empty write at 100 = %d, %v; want 7", size, err)
		}
	})
}

// TestFS_Open_truncReadOnly pins down the Linux behaviour that both FSs
// follow: O_TRUNC truncates even with O_RDONLY.
func TestFS_Open_truncReadOnly(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		must(t, vfs.WriteFile(fsys, "f", []byte("data"), 0o644))
		f := open(t, fsys, "f", os.O_RDONLY|os.O_TRUNC)
		must(t, f.Close())
		wantContent(t, fsys, "f", "")
		// O_EXCL without O_CREATE is ignored.
		f = open(t, fsys, "f", os.O_RDWR|os.O_EXCL)
		must(t, f.Close())
	})
}

func TestFS_Rename_dir(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		setupTree(t, fsys)
		g := open(t, fsys, "d/g", os.O_RDWR)
		defer g.Close()
		must(t, fsys.Rename("d", "e/moved"))
		writeAt(t, g, "G", 0)
		want := map[string]string{"f": "data", "e/": "", "e/moved/": "", "e/moved/g": "G"}
		if d := diffSnapshots(snapshot(t, fsys), want); d != "" {
			t.Errorf("after renaming a directory:%s", d)
		}
		// A file onto itself is a no-op; a file onto a file replaces it.
		must(t, fsys.Rename("f", "f"))
		must(t, fsys.Rename("e/moved/g", "f"))
		wantContent(t, fsys, "f", "G")
		wantMissing(t, fsys, "e/moved/g")
	})
}

func TestFS_RemoveAll(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		setupTree(t, fsys)
		must(t, fsys.MkdirAll("d/h/i", 0o755))
		must(t, vfs.WriteFile(fsys, "d/h/i/j", nil, 0o644))
		must(t, vfs.RemoveAll(fsys, "d"))
		must(t, vfs.RemoveAll(fsys, "d"))
		must(t, vfs.RemoveAll(fsys, "no/such"))
		want := map[string]string{"f": "data", "e/": ""}
		if d := diffSnapshots(snapshot(t, fsys), want); d != "" {
			t.Errorf("after RemoveAll(d):%s", d)
		}
		must(t, vfs.RemoveAll(fsys, "."))
		if d := diffSnapshots(snapshot(t, fsys), nil); d != "" {
			t.Errorf("after RemoveAll(.):%s", d)
		}
		if _, err := fsys.Stat("."); err != nil {
			t.Errorf("Stat(.) after RemoveAll(.): %v", err)
		}
	})
}

// TestFS_Lock_file checks that a lock belongs to a file, not to its name.
func TestFS_Lock_file(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		l1, err := fsys.Lock("LOCK")
		must(t, err)
		_, err = fsys.Lock("LOCK")
		wantErr(t, err, "lock", "LOCK", vfs.ErrLocked)

		// Renamed, the file stays locked under its new name, and the old
		// name is free.
		must(t, fsys.Rename("LOCK", "OLD"))
		_, err = fsys.Lock("OLD")
		wantErr(t, err, "lock", "OLD", vfs.ErrLocked)
		l2, err := fsys.Lock("LOCK")
		must(t, err)

		must(t, l1.Close())
		wantErr(t, l1.Close(), "unlock", "LOCK", fs.ErrClosed)
		l3, err := fsys.Lock("OLD")
		must(t, err)
		_, err = fsys.Lock("LOCK")
		wantErr(t, err, "lock", "LOCK", vfs.ErrLocked)
		must(t, l2.Close())
		must(t, l3.Close())
	})
}

func TestFS_Stat(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		setupTree(t, fsys)
		for _, tc := range []struct {
			name, base string
			dir        bool
		}{{"f", "f", false}, {"d", "d", true}, {"d/g", "g", false}, {".", ".", true}} {
			fi, err := fsys.Stat(tc.name)
			must(t, err)
			if fi.Name() != tc.base || fi.IsDir() != tc.dir || fi.Mode().IsDir() != tc.dir {
				t.Errorf("Stat(%q) = name %q, dir %v; want %q, %v", tc.name, fi.Name(), fi.IsDir(), tc.base, tc.dir)
			}
			if !tc.dir && fi.Mode().Perm()&0o600 != 0o600 {
				t.Errorf("Stat(%q).Mode() = %v, want rw for the owner", tc.name, fi.Mode())
			}
		}
	})
}

// TestFS_File_concurrent has goroutines write, read and sync disjoint
// ranges of one file, and rename and stat other names, at once. Run with
// -race.
func TestFS_File_concurrent(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS) {
		f := open(t, fsys, "f", os.O_RDWR|os.O_CREATE)
		defer f.Close()
		const workers, rounds, chunk = 4, 50, 100
		done := make(chan error, workers+1)
		for w := range workers {
			go func() {
				buf := make([]byte, chunk)
				for r := range rounds {
					data := bytes.Repeat([]byte{byte(w*rounds + r)}, chunk)
					off := int64((r*workers + w) * chunk)
					if _, err := f.WriteAt(data, off); err != nil {
						done <- err
						return
					}
					if _, err := f.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data) {
						done <- errors.Join(err, errors.New("read back something else"))
						return
					}
					if r%10 == 0 {
						if err := f.Sync(); err != nil {
							done <- err
							return
						}
					}
				}
				done <- nil
			}()
		}
		go func() {
			for i := range rounds {
				name := []string{"a", "b"}[i%2]
				if err := vfs.WriteFile(fsys, name, []byte{byte(i)}, 0o644); err != nil {
					done <- err
					return
				}
				if err := fsys.Rename(name, "c"); err != nil {
					done <- err
					return
				}
				if _, err := fsys.Stat("c"); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range workers + 1 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		if size, err := f.Size(); err != nil || size != workers*rounds*chunk {
			t.Errorf("Size = %d, %v; want %d", size, err, workers*rounds*chunk)
		}
	})
}
