package vfstest

import (
	"bytes"
	"io"
	"io/fs"
	"os"

	"github.com/holeycow/holeycow/vfs"
)

var ioChecks = []check{
	{"io/offsets", checkIOOffsets},
	{"io/eof", checkIOEOF},
	{"io/holes", checkIOHoles},
	{"io/negative", checkIONegative},
	{"io/truncate", checkIOTruncate},
	{"io/shared", checkIOShared},
	{"io/sync", checkIOSync},
}

func checkIOOffsets(c *checker) {
	f := c.open("f", rdwrCreate)
	defer c.close(f, "f")
	write := func(s string, off int64) {
		n, err := f.WriteAt([]byte(s), off)
		if c.ok(err, "WriteAt") && n != len(s) {
			c.errorf("WriteAt(len %d, off %d) = %d, want %d", len(s), off, n, len(s))
		}
	}
	write("hello", 0)
	write("XY", 2)
	c.wantReadAt(f, 0, []byte("heXYo"), "overwrite inside the file")
	c.wantReadAt(f, 1, []byte("eXY"), "read inside the file")
	write("!", 5)
	c.wantSize(f, 6, "append at the end")
	c.wantReadAt(f, 0, []byte("heXYo!"), "append at the end")

	// An empty write changes nothing, even past the end.
	n, err := f.WriteAt(nil, 100)
	if n != 0 || err != nil {
		c.errorf("WriteAt(len 0, off 100) = %d, %s; want 0, nil", n, got(err))
	}
	c.wantSize(f, 6, "after an empty WriteAt past the end")

	// A large write across any plausible block boundary, read back in
	// pieces that straddle 4 KiB boundaries.
	big := pattern(10000, 0x5a)
	write(string(big), 4000)
	c.wantSize(f, 14000, "after a 10000-byte write at 4000")
	c.wantReadAt(f, 4000, big, "10000-byte write at 4000")
	c.wantReadAt(f, 4090, big[90:90+20], "read across 4096")
	c.wantReadAt(f, 8190, big[4190:4190+4100], "read across 8192 and 12288")
	c.wantReadAt(f, 0, []byte("heXYo!"), "start of the file after a far write")
}

func checkIOEOF(c *checker) {
	c.writeFile("f", []byte("hello"))
	f := c.open("f", rdonly)
	defer c.close(f, "f")
	buf := bytes.Repeat([]byte{0xA5}, 10)
	n, err := f.ReadAt(buf, 3)
	if n != 2 || err != io.EOF {
		c.errorf("ReadAt(len 10, off 3) of a 5-byte file = %d, %s; want 2, io.EOF", n, got(err))
	} else if string(buf[:2]) != "lo" {
		c.errorf("ReadAt(len 10, off 3) of %q read %q, want %q", "hello", buf[:2], "lo")
	}
	for _, off := range []int64{5, 6, 1 << 20} {
		n, err := f.ReadAt(make([]byte, 4), off)
		if n != 0 || err != io.EOF {
			c.errorf("ReadAt(len 4, off %d) of a 5-byte file = %d, %s; want 0, io.EOF", off, n, got(err))
		}
	}
	c.wantReadAt(f, 0, []byte("hello"), "read of exactly the whole file")
}

// zeros returns n zero bytes.
func zeros(n int) []byte { return make([]byte, n) }

func checkIOHoles(c *checker) {
	f := c.open("f", rdwrCreate)
	defer c.close(f, "f")
	_, err := f.WriteAt([]byte("end"), 100)
	c.must(err, "WriteAt(len 3, off 100) to an empty file")
	c.wantSize(f, 103, "after a write at 100")
	c.wantReadAt(f, 0, append(zeros(100), "end"...), "hole before a write at 100")

	c.must(f.Truncate(5000), "Truncate(5000) to grow")
	c.wantReadAt(f, 100, append([]byte("end"), zeros(4897)...), "hole left by Truncate growing")

	// A far write leaves a large hole.
	_, err = f.WriteAt([]byte("z"), 1<<20)
	c.must(err, "WriteAt(len 1, off 1 MiB)")
	for _, off := range []int64{5000, 65536 - 10, 1<<20 - 4096} {
		c.wantReadAt(f, off, zeros(4096), "large hole")
	}

	// Shrinking must forget the old bytes: growing again, by Truncate or
	// by a write past the end, must not bring them back.
	g := c.open("g", rdwrCreate)
	defer c.close(g, "g")
	ff := bytes.Repeat([]byte{0xFF}, 8192)
	_, err = g.WriteAt(ff, 0)
	c.must(err, "WriteAt(len 8192, off 0)")
	c.must(g.Truncate(10), "Truncate(10) to shrink")
	c.must(g.Truncate(8192), "Truncate(8192) to grow back")
	c.wantReadAt(g, 0, append(ff[:10], zeros(8182)...), "Truncate down then up")

	_, err = g.WriteAt(ff, 0)
	c.must(err, "WriteAt(len 8192, off 0)")
	c.must(g.Truncate(100), "Truncate(100) to shrink")
	_, err = g.WriteAt([]byte("x"), 5000)
	c.must(err, "WriteAt(len 1, off 5000) after shrinking")
	c.wantReadAt(g, 0, append(append(ff[:100], zeros(4900)...), 'x'), "Truncate down then a write past the end")
}

func checkIONegative(c *checker) {
	c.writeFile("f", []byte("hello"))
	f := c.open("f", rdwr)
	defer c.close(f, "f")
	n, err := f.ReadAt(make([]byte, 2), -1)
	c.wantErr(err, "ReadAt at offset -1", fs.ErrInvalid)
	if n != 0 {
		c.errorf("ReadAt at offset -1 read %d bytes, want 0", n)
	}
	n, err = f.WriteAt([]byte("x"), -1)
	c.wantErr(err, "WriteAt at offset -1", fs.ErrInvalid)
	if n != 0 {
		c.errorf("WriteAt at offset -1 wrote %d bytes, want 0", n)
	}
	c.wantErr(f.Truncate(-1), "Truncate(-1)", fs.ErrInvalid)
	c.wantSize(f, 5, "after refused negative offsets")
	c.wantReadAt(f, 0, []byte("hello"), "after refused negative offsets")
}

func checkIOTruncate(c *checker) {
	c.writeFile("f", []byte("hello world"))
	f := c.open("f", rdwr)
	defer c.close(f, "f")
	c.must(f.Truncate(5), "Truncate(5)")
	c.wantSize(f, 5, "after Truncate(5)")
	c.wantReadAt(f, 0, []byte("hello"), "after Truncate(5)")
	n, err := f.ReadAt(make([]byte, 1), 5)
	if n != 0 || err != io.EOF {
		c.errorf("ReadAt(len 1, off 5) after Truncate(5) = %d, %s; want 0, io.EOF", n, got(err))
	}
	fi, err := c.fs.Stat("f")
	if c.ok(err, `Stat("f") after Truncate(5)`) && fi.Size() != 5 {
		c.errorf(`Stat("f").Size() after Truncate(5) = %d, want 5`, fi.Size())
	}
	c.must(f.Truncate(8), "Truncate(8)")
	c.wantSize(f, 8, "after Truncate(8)")
	c.wantReadAt(f, 0, []byte("hello\x00\x00\x00"), "after Truncate(8)")
	c.must(f.Truncate(8), "Truncate(8) to the same size")
	c.wantReadAt(f, 0, []byte("hello\x00\x00\x00"), "after a second Truncate(8)")
	c.must(f.Truncate(0), "Truncate(0)")
	c.wantSize(f, 0, "after Truncate(0)")
	c.wantContent("f", nil, "after Truncate(0)")
}

func checkIOShared(c *checker) {
	a := c.open("f", rdwrCreate)
	defer c.close(a, "first handle")
	b := c.open("f", rdwr)
	defer c.close(b, "second handle")
	_, err := a.WriteAt([]byte("abc"), 0)
	c.must(err, "WriteAt through the first handle")
	c.wantReadAt(b, 0, []byte("abc"), "second handle after a write through the first")
	c.wantSize(b, 3, "second handle after a write through the first")
	c.must(b.Truncate(1), "Truncate(1) through the second handle")
	c.wantSize(a, 1, "first handle after Truncate through the second")
	c.wantReadAt(a, 0, []byte("a"), "first handle after Truncate through the second")
}

func checkIOSync(c *checker) {
	f := c.open("f", rdwrCreate)
	_, err := f.WriteAt([]byte("data"), 0)
	c.must(err, "WriteAt")
	c.ok(f.Sync(), "Sync of an O_RDWR file")
	c.ok(vfs.SyncData(f), "vfs.SyncData of an O_RDWR file")
	c.close(f, "O_RDWR")
	w := c.open("f", os.O_WRONLY)
	c.ok(w.Sync(), "Sync of an O_WRONLY file")
	c.close(w, "O_WRONLY")
	c.wantContent("f", []byte("data"), "after Sync")

	c.ok(c.fs.SyncDir("."), `SyncDir(".")`)
	c.must(c.fs.MkdirAll("d/e", 0o755), `MkdirAll("d/e")`)
	c.ok(c.fs.SyncDir("d/e"), `SyncDir("d/e")`)
	c.wantErr(c.fs.SyncDir("missing"), `SyncDir("missing")`, fs.ErrNotExist)
	c.wantErr(c.fs.SyncDir("f"), `SyncDir("f") of a file`, vfs.ErrNotDir)
}
