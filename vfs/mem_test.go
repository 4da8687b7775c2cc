package vfs_test

import (
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

func TestMemFS_Stats(t *testing.T) {
	m := newMem(t)
	f := open(t, m, "f", os.O_RDWR|os.O_CREATE)
	writeAt(t, f, "hello", 0)
	writeAt(t, f, "world!", 5)
	buf := make([]byte, 20)
	_, _ = f.ReadAt(buf, 0) // 11 bytes and io.EOF
	_, _ = f.ReadAt(buf[:3], 2)
	must(t, f.Sync())
	must(t, vfs.SyncData(f))
	must(t, m.SyncDir("."))
	must(t, f.Close())
	want := vfs.MemStats{Writes: 2, BytesWritten: 11, Reads: 2, BytesRead: 14, Syncs: 2, DirSyncs: 1}
	if got := m.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestMemFS_File_tooLarge(t *testing.T) {
	m := newMem(t)
	f := open(t, m, "f", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	_, err := f.WriteAt([]byte("xy"), vfs.MemMaxFileSize-1)
	wantErr(t, err, "write", "f", vfs.ErrTooLarge)
	_, err = f.WriteAt([]byte("x"), 1<<62)
	wantErr(t, err, "write", "f", vfs.ErrTooLarge)
	wantErr(t, f.Truncate(vfs.MemMaxFileSize+1), "truncate", "f", vfs.ErrTooLarge)
	if size, err := f.Size(); size != 0 || err != nil {
		t.Errorf("Size after refused growth = %d, %v", size, err)
	}
}

// TestMemFS_inodes checks the POSIX separation of names and files: a
// removed or renamed-over file lives on for its open handles.
func TestMemFS_inodes(t *testing.T) {
	m := newMem(t)
	a := open(t, m, "a", os.O_RDWR|os.O_CREATE)
	defer a.Close()
	writeAt(t, a, "old a", 0)
	b := open(t, m, "b", os.O_RDWR|os.O_CREATE)
	defer b.Close()
	writeAt(t, b, "b", 0)

	must(t, m.Rename("b", "a")) // a's file now has no name
	writeAt(t, a, "!", 5)
	if got := content(t, a); got != "old a!" {
		t.Errorf("renamed-over file through its handle = %q", got)
	}
	wantContent(t, m, "a", "b")
	writeAt(t, b, "B", 0) // b's handle follows the file to its new name
	wantContent(t, m, "a", "B")

	must(t, m.Remove("a"))
	wantMissing(t, m, "a")
	writeAt(t, b, "still", 0)
	if got := content(t, b); got != "still" {
		t.Errorf("removed file through its handle = %q", got)
	}
	must(t, b.Sync())
	n := open(t, m, "a", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	defer n.Close()
	if got := content(t, n); got != "" {
		t.Errorf("new file under a removed name = %q, want empty", got)
	}
}

// TestMemFS_concurrent runs namespace changes, I/O, syncs and crash
// clones at once. Run with -race; Check runs at the end.
func TestMemFS_concurrent(t *testing.T) {
	m := newMem(t)
	must(t, m.MkdirAll("d", 0o755))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			name := []string{"a", "b", "d/c", "d/e"}[w]
			for i := range 100 {
				f, err := m.Open(name, os.O_RDWR|os.O_CREATE, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = f.WriteAt([]byte{byte(i)}, int64(i))
				if err == nil && i%7 == 0 {
					err = f.Sync()
				}
				if err == nil && i%11 == 0 {
					err = f.Truncate(int64(i / 2))
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err == nil && i%13 == 0 {
					err = m.Rename(name, name+"x")
				}
				if err == nil && i%17 == 0 {
					err = m.SyncDir(vfs.Dir(name))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			c := m.CrashClone(vfs.CrashOptions{Seed: int64(i), KeepUnsynced: 0.5})
			if err := c.Check(); err != nil {
				t.Errorf("crash clone %d: %v", i, err)
			}
		}
	})
	wg.Wait()
}

func TestMemFS_Lock_release(t *testing.T) {
	m := newMem(t)
	l, err := m.Lock("LOCK")
	must(t, err)
	// Removing a locked file is allowed; a new file under the name is a
	// different, unlocked file.
	must(t, m.Remove("LOCK"))
	l2, err := m.Lock("LOCK")
	must(t, err)
	must(t, l.Close())
	_, err = m.Lock("LOCK")
	wantErr(t, err, "lock", "LOCK", vfs.ErrLocked)
	must(t, l2.Close())
	wantErr(t, l2.Close(), "unlock", "LOCK", fs.ErrClosed)
}
