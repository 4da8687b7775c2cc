package vfstest

import (
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"

	"github.com/holeycow/holeycow/vfs"
)

var lockChecks = []check{
	{"lock/exclusive", checkLockExclusive},
	{"lock/concurrent", checkLockConcurrent},
}

var closeChecks = []check{
	{"close", checkClose},
}

func checkLockExclusive(c *checker) {
	l1, err := c.fs.Lock("LOCK")
	c.must(err, `Lock("LOCK")`)
	fi, err := c.fs.Stat("LOCK")
	if c.ok(err, `Stat("LOCK") after Lock("LOCK") (Lock creates the file)`) && fi.IsDir() {
		c.errorf(`Stat("LOCK").IsDir() after Lock("LOCK") = true, want a file`)
	}
	l2, err := c.fs.Lock("LOCK")
	if !c.wantErr(err, `second Lock("LOCK") while the first is held`, vfs.ErrLocked) && l2 != nil {
		l2.Close()
	}
	other, err := c.fs.Lock("OTHER")
	if c.ok(err, `Lock("OTHER") while "LOCK" is held`) {
		c.close(other, `Lock("OTHER")`)
	}
	c.close(l1, `first Lock("LOCK")`)

	l3, err := c.fs.Lock("LOCK")
	c.must(err, `Lock("LOCK") after the first was closed`)
	c.wantErr(l1.Close(), `second Close of the first Lock("LOCK")`, fs.ErrClosed)
	// The stale Close must not have released the lock held by l3.
	l4, err := c.fs.Lock("LOCK")
	if !c.wantErr(err, `Lock("LOCK") after a stale second Close of an earlier lock`, vfs.ErrLocked) && l4 != nil {
		l4.Close()
	}
	c.close(l3, `third Lock("LOCK")`)

	c.writeFile("data", []byte("keep"))
	l, err := c.fs.Lock("data")
	if c.ok(err, `Lock("data") of an existing file`) {
		c.close(l, `Lock("data")`)
	}
	c.wantContent("data", []byte("keep"), "after Lock and unlock of an existing file")

	_, err = c.fs.Lock("nodir/LOCK")
	c.wantErr(err, `Lock("nodir/LOCK") with a missing parent`, fs.ErrNotExist)
}

func checkLockConcurrent(c *checker) {
	const workers, rounds = 8, 20
	for r := range rounds {
		var won atomic.Int32
		var winner atomic.Pointer[io.Closer]
		c.goAll(workers, func(int) {
			l, err := c.fs.Lock("LOCK")
			if err == nil {
				won.Add(1)
				winner.Store(&l)
				return
			}
			c.wantErr(err, fmt.Sprintf("round %d: concurrent Lock(\"LOCK\")", r), vfs.ErrLocked)
		})
		if n := won.Load(); n != 1 {
			c.fatalf("round %d: %d of %d concurrent Lock(\"LOCK\") calls succeeded, want exactly 1", r, n, workers)
		}
		c.close(*winner.Load(), fmt.Sprintf("round %d: winning lock", r))
	}
}

func checkClose(c *checker) {
	f := c.open("f", rdwrCreate)
	_, err := f.WriteAt([]byte("x"), 0)
	c.must(err, "WriteAt")
	c.must(f.Close(), "first Close")
	c.wantErr(f.Close(), "second Close", fs.ErrClosed)
	const after = " after Close"
	_, err = f.ReadAt(make([]byte, 1), 0)
	c.wantErr(err, "ReadAt"+after, fs.ErrClosed)
	_, err = f.WriteAt([]byte("y"), 0)
	c.wantErr(err, "WriteAt"+after, fs.ErrClosed)
	c.wantErr(f.Truncate(0), "Truncate"+after, fs.ErrClosed)
	c.wantErr(f.Sync(), "Sync"+after, fs.ErrClosed)
	_, err = f.Size()
	c.wantErr(err, "Size"+after, fs.ErrClosed)
	if ds, ok := f.(vfs.DataSyncer); ok {
		c.wantErr(ds.SyncData(), "SyncData"+after, fs.ErrClosed)
	}
	if f.Name() != "f" {
		c.errorf(`Name() after Close = %q, want "f"`, f.Name())
	}
	c.wantContent("f", []byte("x"), "after refused calls on a closed handle")
}
