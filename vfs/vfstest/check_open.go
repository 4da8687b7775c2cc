package vfstest

import (
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/holeycow/holeycow/vfs"
)

var openChecks = []check{
	{"open/create", checkOpenCreate},
	{"open/missing", checkOpenMissing},
	{"open/excl", checkOpenExcl},
	{"open/trunc", checkOpenTrunc},
	{"open/readonly", checkOpenReadOnly},
	{"open/writeonly", checkOpenWriteOnly},
	{"open/badflag", checkOpenBadFlag},
	{"open/dir", checkOpenDir},
}

func checkOpenCreate(c *checker) {
	f := c.open("f", rdwrCreate)
	if f.Name() != "f" {
		c.errorf("Open(%q, O_RDWR|O_CREATE).Name() = %q, want %q", "f", f.Name(), "f")
	}
	c.wantSize(f, 0, "new file")
	fi, err := c.fs.Stat("f")
	if c.ok(err, `Stat("f") of a new file`) {
		if fi.IsDir() || !fi.Mode().IsRegular() || fi.Size() != 0 || fi.Name() != "f" {
			c.errorf(`Stat("f") of a new empty file: IsDir %v, Mode %v, Size %d, Name %q; want false, regular, 0, "f"`,
				fi.IsDir(), fi.Mode(), fi.Size(), fi.Name())
		}
	}
	c.close(f, "new file")

	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	g := c.open("d/g", os.O_WRONLY|os.O_CREATE)
	if g.Name() != "d/g" {
		c.errorf("Open(%q, O_WRONLY|O_CREATE).Name() = %q, want %q", "d/g", g.Name(), "d/g")
	}
	c.close(g, "new file in a directory")
	fi, err = c.fs.Stat("d/g")
	if c.ok(err, `Stat("d/g") of a new file`) && fi.Name() != "g" {
		c.errorf(`Stat("d/g").Name() = %q, want "g"`, fi.Name())
	}

	// The longest valid name works.
	long := "d/" + strings.Repeat("n", vfs.MaxNameLen)
	c.writeFile(long, []byte("long"))
	c.wantContent(long, []byte("long"), "file with a name of vfs.MaxNameLen bytes")

	// O_CREATE on an existing file keeps its content.
	c.writeFile("h", []byte("abc"))
	h := c.open("h", rdwrCreate)
	c.wantReadAt(h, 0, []byte("abc"), "O_CREATE without O_TRUNC on an existing file")
	c.close(h, "existing file")
}

func checkOpenMissing(c *checker) {
	for _, flag := range []int{rdonly, rdwr, os.O_WRONLY, rdwr | os.O_TRUNC} {
		f, err := c.fs.Open("missing", flag, 0o644)
		if c.wantErr(err, "Open(\"missing\", "+flagString(flag)+") without O_CREATE", fs.ErrNotExist) {
			continue
		}
		if f != nil {
			f.Close()
		}
	}
	c.wantMissing("missing", "after failed opens")
	_, err := c.fs.Open("nodir/f", rdwrCreate, 0o644)
	c.wantErr(err, `Open("nodir/f", O_RDWR|O_CREATE) with a missing parent`, fs.ErrNotExist)
	c.wantList(".", nil, "after failed opens")
}

func checkOpenExcl(c *checker) {
	c.writeFile("f", []byte("keep"))
	f, err := c.fs.Open("f", rdwrCreate|os.O_EXCL, 0o644)
	if !c.wantErr(err, `Open("f", O_RDWR|O_CREATE|O_EXCL) of an existing file`, fs.ErrExist) && f != nil {
		f.Close()
	}
	c.wantContent("f", []byte("keep"), "after O_EXCL open of an existing file")

	g := c.open("g", rdwrCreate|os.O_EXCL)
	c.close(g, "O_EXCL on a missing file")
	_, err = c.fs.Stat("g")
	c.ok(err, `Stat("g") after O_EXCL create`)

	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	f, err = c.fs.Open("d", rdwrCreate|os.O_EXCL, 0o644)
	if !c.wantErr(err, `Open("d", O_RDWR|O_CREATE|O_EXCL) of an existing directory`, fs.ErrExist, vfs.ErrIsDir) && f != nil {
		f.Close()
	}
}

func checkOpenTrunc(c *checker) {
	c.writeFile("f", []byte("hello world"))
	f := c.open("f", rdwr|os.O_TRUNC)
	c.wantSize(f, 0, "after O_TRUNC")
	n, err := f.ReadAt(make([]byte, 4), 0)
	if n != 0 || err != io.EOF {
		c.errorf("ReadAt(len 4, off 0) after O_TRUNC = %d, %s; want 0, io.EOF", n, got(err))
	}
	_, err = f.WriteAt([]byte("hi"), 0)
	c.ok(err, "WriteAt after O_TRUNC")
	c.close(f, "O_TRUNC")
	c.wantContent("f", []byte("hi"), "after O_TRUNC and a write")

	g := c.open("f", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	c.wantSize(g, 0, "after O_WRONLY|O_CREATE|O_TRUNC of an existing file")
	c.close(g, "O_TRUNC")

	c.writeFile("g", []byte("keep"))
	h := c.open("g", rdwr)
	c.close(h, "open without O_TRUNC")
	c.wantContent("g", []byte("keep"), "after an open without O_TRUNC")
}

func checkOpenReadOnly(c *checker) {
	c.writeFile("f", []byte("data"))
	f := c.open("f", rdonly)
	n, err := f.WriteAt([]byte("x"), 0)
	c.wantErr(err, "WriteAt on a file opened O_RDONLY", vfs.ErrReadOnly)
	if n != 0 {
		c.errorf("WriteAt on a file opened O_RDONLY wrote %d bytes, want 0", n)
	}
	c.wantErr(f.Truncate(0), "Truncate on a file opened O_RDONLY", vfs.ErrReadOnly)
	c.wantReadAt(f, 0, []byte("data"), "file opened O_RDONLY")
	c.wantSize(f, 4, "file opened O_RDONLY")
	c.close(f, "O_RDONLY")
	c.wantContent("f", []byte("data"), "after refused writes to an O_RDONLY file")
}

func checkOpenWriteOnly(c *checker) {
	c.writeFile("f", []byte("data"))
	f := c.open("f", os.O_WRONLY)
	buf := make([]byte, 4)
	n, err := f.ReadAt(buf, 0)
	c.wantErr(err, "ReadAt on a file opened O_WRONLY", vfs.ErrWriteOnly)
	if n != 0 {
		c.errorf("ReadAt on a file opened O_WRONLY read %d bytes, want 0", n)
	}
	_, err = f.WriteAt([]byte("DA"), 0)
	c.ok(err, "WriteAt on a file opened O_WRONLY")
	c.ok(f.Truncate(3), "Truncate on a file opened O_WRONLY")
	c.wantSize(f, 3, "file opened O_WRONLY")
	c.close(f, "O_WRONLY")
	c.wantContent("f", []byte("DAt"), "after writes to an O_WRONLY file")
}

func checkOpenBadFlag(c *checker) {
	for _, flag := range []int{
		rdwrCreate | os.O_APPEND,
		rdwrCreate | os.O_SYNC,
		rdwrCreate | 1<<29,
		os.O_WRONLY | os.O_RDWR | os.O_CREATE,
	} {
		f, err := c.fs.Open("f", flag, 0o644)
		if !c.wantErr(err, "Open(\"f\", "+flagString(flag)+") with an unknown flag", fs.ErrInvalid) && f != nil {
			f.Close()
		}
		c.wantMissing("f", "after Open("+flagString(flag)+") with an unknown flag")
	}
	c.writeFile("g", []byte("keep"))
	f, err := c.fs.Open("g", rdwr|os.O_TRUNC|os.O_APPEND, 0o644)
	if !c.wantErr(err, `Open("g", O_RDWR|O_TRUNC|O_APPEND) with an unknown flag`, fs.ErrInvalid) && f != nil {
		f.Close()
	}
	c.wantContent("g", []byte("keep"), "after a refused O_TRUNC|O_APPEND open")
}

func checkOpenDir(c *checker) {
	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	for _, name := range []string{"d", "."} {
		for _, flag := range []int{rdonly, rdwr, rdwrCreate} {
			f, err := c.fs.Open(name, flag, 0o644)
			if !c.wantErr(err, "Open(\""+name+"\", "+flagString(flag)+") of a directory", vfs.ErrIsDir) && f != nil {
				f.Close()
			}
		}
	}
	c.writeFile("f", []byte("x"))
	f, err := c.fs.Open("f/x", rdwrCreate, 0o644)
	if !c.wantErr(err, `Open("f/x", O_RDWR|O_CREATE) where "f" is a file`, vfs.ErrNotDir) && f != nil {
		f.Close()
	}
	c.wantContent("f", []byte("x"), `after Open("f/x")`)
}
