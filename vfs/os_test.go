package vfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// TestOSFS_symlink_escape checks that a symbolic link cannot lead outside
// the root, while one that stays inside works.
func TestOSFS_symlink_escape(t *testing.T) {
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	root := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(root, "out")))
	must(t, os.Symlink("/", filepath.Join(root, "abs")))
	must(t, os.Mkdir(filepath.Join(root, "in"), 0o755))
	must(t, os.Symlink("in", filepath.Join(root, "inlink")))
	fsys := vfs.OS(root)

	for _, name := range []string{"out/secret", "abs/etc/passwd"} {
		_, err := fsys.Open(name, os.O_RDONLY, 0)
		wantErr(t, err, "open", name, fs.ErrInvalid)
		_, err = fsys.Open(name+"2", os.O_RDWR|os.O_CREATE, 0o644)
		wantErr(t, err, "open", name+"2", fs.ErrInvalid)
		_, err = fsys.Stat(name)
		wantErr(t, err, "stat", name, fs.ErrInvalid)
		wantErr(t, fsys.Remove(name), "remove", name, fs.ErrInvalid)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret2")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was created outside the root: %v", err)
	}
	must(t, vfs.WriteFile(fsys, "inlink/f", []byte("ok"), 0o644))
	wantContent(t, fsys, "in/f", "ok")
}

// TestOSFS_root_lazy checks that a missing root directory makes every call
// fail with fs.ErrNotExist, until it is created.
func TestOSFS_root_lazy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	fsys := vfs.OS(dir)
	_, err := fsys.Stat(".")
	wantErr(t, err, "stat", ".", fs.ErrNotExist)
	_, err = fsys.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
	wantErr(t, err, "open", "f", fs.ErrNotExist)
	wantErr(t, fsys.Check(), "check", ".", fs.ErrNotExist)

	must(t, os.Mkdir(dir, 0o755))
	must(t, vfs.WriteFile(fsys, "f", []byte("x"), 0o644))
	data, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || string(data) != "x" {
		t.Errorf("file on disk = %q, %v", data, err)
	}
	must(t, fsys.Check())
}

func TestOSFS_root_file(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	_, err := vfs.OS(file).Stat("x")
	wantErr(t, err, "stat", "x", vfs.ErrNotDir)
}

func TestOSFS_Dir_absolute(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	fsys := vfs.OS("sub")
	if want := filepath.Join(base, "sub"); fsys.Dir() != want {
		t.Errorf("Dir() = %q, want %q", fsys.Dir(), want)
	}
}

// TestOSFS_errors_relative checks that errors name the FS path, never the
// path on disk.
func TestOSFS_errors_relative(t *testing.T) {
	fsys := newOS(t)
	must(t, fsys.MkdirAll("d", 0o755))
	for _, err := range []error{
		func() error { _, err := fsys.Stat("d/missing"); return err }(),
		fsys.Remove("d/missing"),
		fsys.Rename("d/missing", "d/x"),
		fsys.SyncDir("d/missing"),
	} {
		if err == nil || strings.Contains(err.Error(), fsys.Dir()) {
			t.Errorf("error %v mentions the disk path %q", err, fsys.Dir())
		}
	}
}

// TestOSFS_File_tooLarge checks that a write past the largest file size
// gets ErrTooLarge (EFBIG) rather than a raw errno.
func TestOSFS_File_tooLarge(t *testing.T) {
	fsys := newOS(t)
	f := open(t, fsys, "f", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	_, err := f.WriteAt([]byte("x"), 1<<62)
	if !errors.Is(err, vfs.ErrTooLarge) && !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("WriteAt at 1<<62 = %v, want ErrTooLarge or fs.ErrInvalid", err)
	}
	wantErr(t, f.Truncate(1<<62), "truncate", "f", vfs.ErrTooLarge)
}

func TestOSFS_File_SyncData(t *testing.T) {
	fsys := newOS(t)
	f := open(t, fsys, "f", os.O_RDWR|os.O_CREATE)
	writeAt(t, f, "data", 0)
	if _, ok := f.(vfs.DataSyncer); !ok {
		t.Fatalf("%T does not implement DataSyncer", f)
	}
	must(t, vfs.SyncData(f))
	must(t, f.Close())
	must(t, fsys.SyncDir("."))
}

// TestOSFS_Lock_twoFS checks that two OSFS on one directory exclude each
// other.
func TestOSFS_Lock_twoFS(t *testing.T) {
	dir := t.TempDir()
	a, b := vfs.OS(dir), vfs.OS(dir)
	la, err := a.Lock("LOCK")
	must(t, err)
	_, err = b.Lock("LOCK")
	wantErr(t, err, "lock", "LOCK", vfs.ErrLocked)
	must(t, la.Close())
	lb, err := b.Lock("LOCK")
	must(t, err)
	must(t, lb.Close())
}

// lockHelperEnv names the directory in which the helper process locks
// LOCK; see TestOSFS_Lock_helperProcess.
const lockHelperEnv = "HOLEYCOW_VFS_LOCK_HELPER_DIR"

// TestOSFS_Lock_helperProcess is not a test: TestOSFS_Lock_crossProcess
// runs the test binary with it to try Lock("LOCK") from another process.
// It prints "locked" if the lock was held elsewhere, "acquired" if it took
// (and released) it.
func TestOSFS_Lock_helperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestOSFS_Lock_crossProcess")
	}
	l, err := vfs.OS(dir).Lock("LOCK")
	switch {
	case errors.Is(err, vfs.ErrLocked):
		os.Stdout.WriteString("locked\n")
	case err == nil:
		os.Stdout.WriteString("acquired\n")
		l.Close()
	default:
		t.Fatal(err)
	}
}

func TestOSFS_Lock_crossProcess(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && !strings.HasSuffix(runtime.GOOS, "bsd") {
		t.Skip("no flock on " + runtime.GOOS)
	}
	dir := t.TempDir()
	other := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestOSFS_Lock_helperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper process: %v\n%s", err, out)
		}
		switch {
		case bytes.Contains(out, []byte("locked\n")):
			return "locked"
		case bytes.Contains(out, []byte("acquired\n")):
			return "acquired"
		}
		t.Fatalf("helper process said:\n%s", out)
		return ""
	}
	fsys := vfs.OS(dir)
	l, err := fsys.Lock("LOCK")
	must(t, err)
	if got := other(); got != "locked" {
		t.Errorf("another process while the lock is held: %s, want locked", got)
	}
	must(t, l.Close())
	if got := other(); got != "acquired" {
		t.Errorf("another process after the lock was released: %s, want acquired", got)
	}
	l, err = fsys.Lock("LOCK")
	must(t, err)
	must(t, l.Close())
}
