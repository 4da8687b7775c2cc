package vfstest

import (
	"fmt"
	"io/fs"

	"github.com/holeycow/holeycow/vfs"
)

var helperChecks = []check{
	{"helpers/readwritefile", checkHelpersReadWriteFile},
	{"helpers/removeall", checkHelpersRemoveAll},
	{"optional/removeall", checkOptionalRemoveAll},
	{"optional/datasync", checkOptionalDataSync},
}

func checkHelpersReadWriteFile(c *checker) {
	c.ok(vfs.WriteFile(c.fs, "f", []byte("hello"), 0o644), `vfs.WriteFile("f", "hello")`)
	data, err := vfs.ReadFile(c.fs, "f")
	if c.ok(err, `vfs.ReadFile("f")`) && string(data) != "hello" {
		c.errorf(`vfs.ReadFile("f") = %q, want "hello"`, data)
	}
	c.ok(vfs.WriteFile(c.fs, "f", []byte("hi"), 0o644), `vfs.WriteFile("f", "hi") over a longer file`)
	data, err = vfs.ReadFile(c.fs, "f")
	if c.ok(err, `vfs.ReadFile("f")`) && string(data) != "hi" {
		c.errorf(`vfs.ReadFile("f") after rewriting with "hi" = %q, want "hi"`, data)
	}
	_, err = vfs.ReadFile(c.fs, "missing")
	c.wantErr(err, `vfs.ReadFile("missing")`, fs.ErrNotExist)
	c.wantErr(vfs.WriteFile(c.fs, "nodir/f", nil, 0o644), `vfs.WriteFile("nodir/f")`, fs.ErrNotExist)
}

// plainFS hides every optional interface of an FS, so that the package
// helpers take their fallback paths.
type plainFS struct{ vfs.FS }

// makeTree creates t/a, t/u/b, t/u/v/c and the empty directory t/w.
func makeTree(c *checker, root string) {
	c.must(c.fs.MkdirAll(root+"/u/v", 0o755), fmt.Sprintf("MkdirAll(%q)", root+"/u/v"))
	c.must(c.fs.MkdirAll(root+"/w", 0o755), fmt.Sprintf("MkdirAll(%q)", root+"/w"))
	for _, n := range []string{"a", "u/b", "u/v/c"} {
		c.writeFile(root+"/"+n, []byte(n))
	}
}

func checkHelpersRemoveAll(c *checker) {
	c.writeFile("keep", []byte("keep"))
	for _, tc := range []struct {
		fsys vfs.FS
		desc string
	}{
		{c.fs, "vfs.RemoveAll"},
		{plainFS{c.fs}, "vfs.RemoveAll's fallback"},
	} {
		makeTree(c, "t")
		c.ok(vfs.RemoveAll(tc.fsys, "t"), tc.desc+`("t") of a tree`)
		c.wantMissing("t", tc.desc+`("t")`)
		c.ok(vfs.RemoveAll(tc.fsys, "t"), tc.desc+`("t") of a missing name`)
		c.writeFile("file", []byte("x"))
		c.ok(vfs.RemoveAll(tc.fsys, "file"), tc.desc+`("file") of a file`)
		c.wantMissing("file", tc.desc+`("file")`)
		c.wantList(".", []string{"keep"}, "after "+tc.desc)
	}
	c.wantContent("keep", []byte("keep"), "after vfs.RemoveAll of other names")
}

// checkOptionalRemoveAll checks the FS's own RemoveAll, if it has one.
func checkOptionalRemoveAll(c *checker) {
	ra, ok := c.fs.(vfs.RemoveAller)
	if !ok {
		return
	}
	c.writeFile("keep", []byte("keep"))
	makeTree(c, "t")
	f := c.open("t/u/b", rdwr)
	defer c.close(f, "file open during RemoveAll")
	c.ok(ra.RemoveAll("t"), `RemoveAll("t") of a tree`)
	c.wantMissing("t", `after RemoveAll("t")`)
	c.wantReadAt(f, 0, []byte("u/b"), "handle on a file removed by RemoveAll")
	c.ok(ra.RemoveAll("t"), `RemoveAll("t") of a missing name`)
	c.ok(ra.RemoveAll("nodir/x"), `RemoveAll("nodir/x") under a missing directory`)
	c.wantList(".", []string{"keep"}, "after RemoveAll")
	c.wantContent("keep", []byte("keep"), "after RemoveAll of another name")
}

// checkOptionalDataSync checks SyncData, if the FS's files have it.
func checkOptionalDataSync(c *checker) {
	f := c.open("f", rdwrCreate)
	ds, ok := f.(vfs.DataSyncer)
	if !ok {
		c.close(f, "f")
		return
	}
	_, err := f.WriteAt([]byte("data"), 0)
	c.must(err, "WriteAt")
	c.ok(ds.SyncData(), "SyncData")
	c.close(f, "f")
	c.wantErr(ds.SyncData(), "SyncData after Close", fs.ErrClosed)
	c.wantContent("f", []byte("data"), "after SyncData")
}
