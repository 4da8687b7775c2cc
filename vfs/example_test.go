package vfs_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/holeycow/holeycow/vfs"
)

func ExampleOS() {
	dir, err := os.MkdirTemp("", "vfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	fsys := vfs.OS(dir)
	if err := fsys.MkdirAll("db", 0o755); err != nil {
		log.Fatal(err)
	}
	f, err := fsys.Open("db/main.db", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		log.Fatal(err)
	}
	// Make the data durable, then the new directory entry.
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if err := fsys.SyncDir("db"); err != nil {
		log.Fatal(err)
	}

	data, err := vfs.ReadFile(fsys, "db/main.db")
	fmt.Printf("%s %v\n", data, err)

	// Paths are checked before they reach the disk.
	_, err = fsys.Stat("../etc/passwd")
	fmt.Println(err)

	// A second lock on the same file fails, in this process or another.
	lock, err := fsys.Lock("db/LOCK")
	if err != nil {
		log.Fatal(err)
	}
	_, err = fsys.Lock("db/LOCK")
	fmt.Println(errors.Is(err, vfs.ErrLocked))
	lock.Close()
	// Output:
	// hello <nil>
	// stat ../etc/passwd: invalid argument
	// true
}

func ExampleNewMem() {
	fsys := vfs.NewMem()
	if err := vfs.WriteFile(fsys, "a", []byte("first"), 0o644); err != nil {
		log.Fatal(err)
	}
	f, err := fsys.Open("a", os.O_RDONLY, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	// Removing a file does not affect those who have it open.
	if err := fsys.Remove("a"); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	n, err := f.ReadAt(buf, 0)
	fmt.Printf("%s %v\n", buf[:n], err)
	_, err = fsys.Stat("a")
	fmt.Println(err)
	// Output:
	// first <nil>
	// stat a: file does not exist
}

func ExampleMemFS_CrashClone() {
	fsys := vfs.NewMem()
	f, err := fsys.Open("log", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("committed."), 0); err != nil {
		log.Fatal(err)
	}
	// Make the content durable, and the name "log" in its directory.
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	if err := fsys.SyncDir("."); err != nil {
		log.Fatal(err)
	}
	// This write is never synced.
	if _, err := f.WriteAt([]byte("pending"), 10); err != nil {
		log.Fatal(err)
	}

	lost := fsys.CrashClone(vfs.CrashOptions{Seed: 1, KeepUnsynced: 0})
	data, _ := vfs.ReadFile(lost, "log")
	fmt.Printf("KeepUnsynced 0: %q\n", data)

	kept := fsys.CrashClone(vfs.CrashOptions{Seed: 1, KeepUnsynced: 1})
	data, _ = vfs.ReadFile(kept, "log")
	fmt.Printf("KeepUnsynced 1: %q\n", data)
	// Output:
	// KeepUnsynced 0: "committed."
	// KeepUnsynced 1: "committed.pending"
}

func ExampleMemFS_Stats() {
	fsys := vfs.NewMem()
	f, err := fsys.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for i := range 4 {
		if _, err := f.WriteAt(make([]byte, 4096), int64(i)*4096); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	st := fsys.Stats()
	fmt.Println(st.Writes, st.BytesWritten, st.Syncs)
	// Output:
	// 4 16384 1
}
