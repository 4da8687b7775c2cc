package vfstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/holeycow/holeycow/vfs"
)

// Shorthands for the flags the checks use most.
const (
	rdwrCreate = os.O_RDWR | os.O_CREATE
	rdonly     = os.O_RDONLY
	rdwr       = os.O_RDWR
)

// errName names a sentinel error as Go source spells it.
func errName(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{fs.ErrNotExist, "fs.ErrNotExist"},
		{fs.ErrExist, "fs.ErrExist"},
		{fs.ErrClosed, "fs.ErrClosed"},
		{fs.ErrInvalid, "fs.ErrInvalid"},
		{fs.ErrPermission, "fs.ErrPermission"},
		{io.EOF, "io.EOF"},
		{vfs.ErrLocked, "vfs.ErrLocked"},
		{vfs.ErrIsDir, "vfs.ErrIsDir"},
		{vfs.ErrNotDir, "vfs.ErrNotDir"},
		{vfs.ErrNotEmpty, "vfs.ErrNotEmpty"},
		{vfs.ErrReadOnly, "vfs.ErrReadOnly"},
		{vfs.ErrWriteOnly, "vfs.ErrWriteOnly"},
	} {
		if err == s.err {
			return s.name
		}
	}
	return fmt.Sprintf("%q", err)
}

// got formats an error result for a report.
func got(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", err.Error())
}

// wantErr reports a problem unless errors.Is(err, target) for one of the
// targets. It says whether err matched.
func (c *checker) wantErr(err error, what string, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = errName(t)
	}
	want := names[0]
	for _, n := range names[1:] {
		want += " or " + n
	}
	c.errorf("%s: got error %s, want %s", what, got(err), want)
	return false
}

// ok reports a problem if err is not nil. It says whether err was nil.
func (c *checker) ok(err error, what string) bool {
	if err != nil {
		c.errorf("%s: unexpected error %s", what, got(err))
		return false
	}
	return true
}

// must stops the check if err is not nil.
func (c *checker) must(err error, what string) {
	if err != nil {
		c.fatalf("%s: unexpected error %s", what, got(err))
	}
}

// open opens name or stops the check.
func (c *checker) open(name string, flag int) vfs.File {
	f, err := c.fs.Open(name, flag, 0o644)
	c.must(err, fmt.Sprintf("Open(%q, %s)", name, flagString(flag)))
	return f
}

// close closes f, reporting an error.
func (c *checker) close(f io.Closer, what string) {
	c.ok(f.Close(), what+": Close")
}

// writeFile creates or truncates name and writes data, or stops the check.
func (c *checker) writeFile(name string, data []byte) {
	f := c.open(name, rdwrCreate|os.O_TRUNC)
	defer f.Close()
	n, err := f.WriteAt(data, 0)
	c.must(err, fmt.Sprintf("File(%q).WriteAt(len %d, off 0)", name, len(data)))
	if n != len(data) {
		c.fatalf("File(%q).WriteAt(len %d, off 0) = %d, nil", name, len(data), n)
	}
	c.must(f.Close(), fmt.Sprintf("File(%q).Close()", name))
}

// readAll reads all of f, by Size then ReadAt. ok is false (and a problem
// reported) if that fails.
func (c *checker) readAll(f vfs.File, what string) (data []byte, ok bool) {
	size, err := f.Size()
	if !c.ok(err, what+": Size") {
		return nil, false
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF || n != len(buf) {
		c.errorf("%s: ReadAt(len %d, off 0) = %d, %s; want %d bytes (the Size)", what, len(buf), n, got(err), size)
		return nil, false
	}
	return buf, true
}

// wantContent reports a problem unless the file name holds want.
func (c *checker) wantContent(name string, want []byte, what string) {
	f, err := c.fs.Open(name, rdonly, 0)
	if !c.ok(err, fmt.Sprintf("%s: Open(%q, O_RDONLY)", what, name)) {
		return
	}
	defer f.Close()
	data, ok := c.readAll(f, fmt.Sprintf("%s: file %q", what, name))
	if ok && !bytes.Equal(data, want) {
		c.errorf("%s: file %q holds %s, want %s", what, name, show(data), show(want))
	}
	fi, err := c.fs.Stat(name)
	if c.ok(err, fmt.Sprintf("%s: Stat(%q)", what, name)) && fi.Size() != int64(len(want)) {
		c.errorf("%s: Stat(%q).Size() = %d, want %d", what, name, fi.Size(), len(want))
	}
}

// wantReadAt reports a problem unless f.ReadAt(len(want), off) returns want
// with a nil error or io.EOF (allowed when the read reaches the end).
func (c *checker) wantReadAt(f vfs.File, off int64, want []byte, what string) {
	buf := bytes.Repeat([]byte{0xA5}, len(want)) // garbage, to catch unwritten bytes
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF || n != len(want) {
		c.errorf("%s: ReadAt(len %d, off %d) = %d, %s; want %d, nil", what, len(want), off, n, got(err), len(want))
		return
	}
	if !bytes.Equal(buf, want) {
		c.errorf("%s: ReadAt(len %d, off %d) read %s, want %s", what, len(want), off, show(buf), show(want))
	}
}

// wantSize reports a problem unless f.Size() is want.
func (c *checker) wantSize(f vfs.File, want int64, what string) {
	size, err := f.Size()
	if c.ok(err, what+": Size") && size != want {
		c.errorf("%s: Size() = %d, want %d", what, size, want)
	}
}

// wantMissing reports a problem unless Stat(name) gets fs.ErrNotExist.
func (c *checker) wantMissing(name, what string) {
	_, err := c.fs.Stat(name)
	c.wantErr(err, fmt.Sprintf("%s: Stat(%q) of a missing file", what, name), fs.ErrNotExist)
}

// wantList reports a problem unless List(dir) returns want.
func (c *checker) wantList(dir string, want []string, what string) {
	names, err := c.fs.List(dir)
	if !c.ok(err, fmt.Sprintf("%s: List(%q)", what, dir)) {
		return
	}
	if !slices.Equal(names, want) {
		c.errorf("%s: List(%q) = %q, want %q", what, dir, names, want)
	}
}

// show formats file content for a report, abbreviated.
func show(b []byte) string {
	const max = 48
	if len(b) <= max {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
}

// pattern returns n bytes that differ from their neighbours and from
// pattern(n, seed') for another seed, to catch misplaced bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
		if b[i] == 0 {
			b[i] = 1 // zeros are what holes read as; keep them distinct
		}
	}
	return b
}
