package vfstest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/holeycow/holeycow/vfs"
)

var pathChecks = []check{
	{"paths", checkBadPaths},
}

// badPaths are not valid vfs paths. Several clean to names that exist in
// the check's FS, so an FS that cleans instead of refusing is caught.
var badPaths = []string{
	"", "/abs", "/", "a/../b", "../x", "..", "a//b", "./a", "a/", "a/.", "b/./y",
	"a\x00b", "b/" + strings.Repeat("n", vfs.MaxNameLen+1),
}

func checkBadPaths(c *checker) {
	c.writeFile("a", []byte("keep"))
	c.writeFile("abs", []byte("keep"))
	c.must(c.fs.MkdirAll("b", 0o755), `MkdirAll("b")`)
	c.writeFile("b/y", []byte("keep"))

	// want checks that err refuses the bad path p.
	want := func(call string, err error, p string) {
		var pe *fs.PathError
		switch {
		case err == nil:
			c.errorf("%s succeeded, want an *fs.PathError wrapping fs.ErrInvalid", call)
		case !errors.As(err, &pe):
			// The watcher reports the type; say what was expected too.
			c.errorf("%s: got %T %s, want an *fs.PathError wrapping fs.ErrInvalid", call, err, got(err))
		case !errors.Is(err, fs.ErrInvalid):
			c.errorf("%s: got error %s, want fs.ErrInvalid", call, got(err))
		case pe.Path != p:
			c.errorf("%s: error %s has Path %q, want the bad path %q", call, got(err), pe.Path, p)
		}
	}
	for _, p := range badPaths {
		f, err := c.fs.Open(p, rdonly, 0)
		want(fmt.Sprintf("Open(%q, O_RDONLY)", p), err, p)
		closeIf(f, err)
		f, err = c.fs.Open(p, rdwrCreate, 0o644)
		want(fmt.Sprintf("Open(%q, O_RDWR|O_CREATE)", p), err, p)
		closeIf(f, err)
		want(fmt.Sprintf("Remove(%q)", p), c.fs.Remove(p), p)
		want(fmt.Sprintf("Rename(%q, %q)", p, "new"), c.fs.Rename(p, "new"), p)
		want(fmt.Sprintf("Rename(%q, %q)", "a", p), c.fs.Rename("a", p), p)
		_, err = c.fs.Stat(p)
		want(fmt.Sprintf("Stat(%q)", p), err, p)
		_, err = c.fs.List(p)
		want(fmt.Sprintf("List(%q)", p), err, p)
		want(fmt.Sprintf("MkdirAll(%q)", p), c.fs.MkdirAll(p, 0o755), p)
		l, err := c.fs.Lock(p)
		want(fmt.Sprintf("Lock(%q)", p), err, p)
		closeIf(l, err)
		want(fmt.Sprintf("SyncDir(%q)", p), c.fs.SyncDir(p), p)
		if ra, ok := c.fs.(vfs.RemoveAller); ok {
			want(fmt.Sprintf("RemoveAll(%q)", p), ra.RemoveAll(p), p)
		}
	}
	const what = "after calls with bad paths"
	c.wantList(".", []string{"a", "abs", "b"}, what)
	c.wantList("b", []string{"y"}, what)
	c.wantContent("a", []byte("keep"), what)
	c.wantContent("abs", []byte("keep"), what)
	c.wantContent("b/y", []byte("keep"), what)

	// The root itself cannot be opened as a file, removed or renamed.
	f, err := c.fs.Open(".", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		c.errorf(`Open(".", O_RDWR|O_CREATE|O_TRUNC) succeeded, want an error`)
		f.Close()
	}
	if err := c.fs.Rename(".", "x"); err == nil {
		c.errorf(`Rename(".", "x") succeeded, want an error`)
	}
	c.wantList(".", []string{"a", "abs", "b"}, "after calls on the root")
}

// closeIf closes c if the call that returned it succeeded.
func closeIf(c io.Closer, err error) {
	if err == nil && c != nil {
		c.Close()
	}
}
