package vfstest

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/holeycow/holeycow/vfs"
)

var namespaceChecks = []check{
	{"rename/basic", checkRenameBasic},
	{"rename/replace", checkRenameReplace},
	{"rename/open", checkRenameOpen},
	{"rename/errors", checkRenameErrors},
	{"remove/basic", checkRemoveBasic},
	{"remove/open", checkRemoveOpen},
	{"stat", checkStat},
	{"list", checkList},
	{"mkdirall", checkMkdirAll},
}

func checkRenameBasic(c *checker) {
	c.writeFile("a", []byte("A"))
	c.must(c.fs.Rename("a", "b"), `Rename("a", "b")`)
	c.wantMissing("a", `after Rename("a", "b")`)
	c.wantContent("b", []byte("A"), `after Rename("a", "b")`)
	c.wantList(".", []string{"b"}, `after Rename("a", "b")`)

	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	c.must(c.fs.Rename("b", "d/c"), `Rename("b", "d/c")`)
	c.wantContent("d/c", []byte("A"), `after Rename("b", "d/c")`)
	c.wantList(".", []string{"d"}, `after Rename("b", "d/c")`)
	c.wantList("d", []string{"c"}, `after Rename("b", "d/c")`)

	c.ok(c.fs.Rename("d/c", "d/c"), `Rename("d/c", "d/c") onto itself`)
	c.wantContent("d/c", []byte("A"), `after Rename("d/c", "d/c") onto itself`)
}

func checkRenameReplace(c *checker) {
	c.writeFile("a", []byte("new"))
	c.writeFile("b", []byte("old, longer"))
	old := c.open("b", rdonly)
	defer c.close(old, "handle on the replaced file")
	c.must(c.fs.Rename("a", "b"), `Rename("a", "b") over an existing file`)
	c.wantMissing("a", `after Rename("a", "b") over an existing file`)
	c.wantContent("b", []byte("new"), `after Rename("a", "b") over an existing file`)
	c.wantList(".", []string{"b"}, `after Rename("a", "b") over an existing file`)
	// Like an unlinked file, the replaced one lives on for its open handle.
	c.wantReadAt(old, 0, []byte("old, longer"), "handle opened on b before it was replaced")
}

func checkRenameOpen(c *checker) {
	f := c.open("a", rdwrCreate)
	defer c.close(f, "renamed file")
	_, err := f.WriteAt([]byte("one"), 0)
	c.must(err, "WriteAt before the rename")
	c.must(c.fs.Rename("a", "b"), `Rename("a", "b") of an open file`)
	if f.Name() != "a" {
		c.errorf(`Name() of a file opened as "a" and renamed to "b" = %q, want "a" (the name it was opened with)`, f.Name())
	}
	_, err = f.WriteAt([]byte("two"), 3)
	c.ok(err, "WriteAt through a handle after its file was renamed")
	c.wantReadAt(f, 0, []byte("onetwo"), "handle after its file was renamed")
	c.wantContent("b", []byte("onetwo"), "after writing through a handle opened before the rename")
	c.wantMissing("a", `after Rename("a", "b") of an open file`)
}

func checkRenameErrors(c *checker) {
	c.wantErr(c.fs.Rename("missing", "x"), `Rename("missing", "x")`, fs.ErrNotExist)
	c.wantMissing("x", `after a failed Rename("missing", "x")`)
	c.writeFile("a", []byte("A"))
	c.wantErr(c.fs.Rename("a", "nodir/b"), `Rename("a", "nodir/b") into a missing directory`, fs.ErrNotExist)
	c.wantContent("a", []byte("A"), `after a failed Rename("a", "nodir/b")`)

	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	c.writeFile("d/x", []byte("X"))
	if err := c.fs.Rename("a", "d"); err == nil {
		c.errorf(`Rename("a", "d") of a file over a non-empty directory succeeded, want an error`)
	}
	c.wantContent("a", []byte("A"), `after Rename("a", "d") over a directory`)
	c.wantContent("d/x", []byte("X"), `after Rename("a", "d") over a directory`)
}

func checkRemoveBasic(c *checker) {
	c.writeFile("f", []byte("x"))
	c.must(c.fs.Remove("f"), `Remove("f")`)
	c.wantMissing("f", `after Remove("f")`)
	c.wantErr(c.fs.Remove("f"), `Remove("f") a second time`, fs.ErrNotExist)
	c.wantErr(c.fs.Remove("nodir/f"), `Remove("nodir/f")`, fs.ErrNotExist)

	c.must(c.fs.MkdirAll("d/e", 0o755), `MkdirAll("d/e")`)
	c.writeFile("d/e/f", []byte("x"))
	c.wantErr(c.fs.Remove("d"), `Remove("d") of a non-empty directory`, vfs.ErrNotEmpty)
	c.wantErr(c.fs.Remove("d/e"), `Remove("d/e") of a non-empty directory`, vfs.ErrNotEmpty)
	c.wantContent("d/e/f", []byte("x"), "after refused removals of its directories")
	c.must(c.fs.Remove("d/e/f"), `Remove("d/e/f")`)
	c.ok(c.fs.Remove("d/e"), `Remove("d/e") of an empty directory`)
	c.ok(c.fs.Remove("d"), `Remove("d") of an empty directory`)
	c.wantMissing("d", `after Remove("d")`)
	c.wantList(".", nil, "after removing everything")
}

func checkRemoveOpen(c *checker) {
	f := c.open("f", rdwrCreate)
	defer c.close(f, "removed file")
	_, err := f.WriteAt([]byte("data"), 0)
	c.must(err, "WriteAt before Remove")
	c.must(c.fs.Remove("f"), `Remove("f") of an open file`)
	c.wantMissing("f", `after Remove("f") of an open file`)
	c.wantList(".", nil, `after Remove("f") of an open file`)
	_, err = c.fs.Open("f", rdonly, 0)
	c.wantErr(err, `Open("f", O_RDONLY) after Remove("f")`, fs.ErrNotExist)

	const what = "handle on a removed file"
	c.wantReadAt(f, 0, []byte("data"), what)
	_, err = f.WriteAt([]byte("more"), 4)
	c.ok(err, what+": WriteAt")
	c.wantSize(f, 8, what)
	c.ok(f.Truncate(2), what+": Truncate(2)")
	c.wantReadAt(f, 0, []byte("da"), what)
	c.ok(f.Sync(), what+": Sync")

	// A new file of the same name is a different file.
	g := c.open("f", rdwrCreate|os.O_EXCL)
	c.wantSize(g, 0, `new "f" created after the old one was removed while open`)
	_, err = g.WriteAt([]byte("new"), 0)
	c.must(err, `WriteAt to the new "f"`)
	c.close(g, `new "f"`)
	c.wantReadAt(f, 0, []byte("da"), what+" after a new file took its name")
	c.wantSize(f, 2, what+" after a new file took its name")
	c.wantContent("f", []byte("new"), `new "f" while the removed one is still open`)
}

func checkStat(c *checker) {
	c.writeFile("f", []byte("12345"))
	c.must(c.fs.MkdirAll("d/e", 0o755), `MkdirAll("d/e")`)
	for _, tc := range []struct {
		name, base string
		dir        bool
		size       int64
	}{
		{"f", "f", false, 5},
		{"d", "d", true, -1},
		{"d/e", "e", true, -1},
		{".", ".", true, -1},
	} {
		fi, err := c.fs.Stat(tc.name)
		if !c.ok(err, fmt.Sprintf("Stat(%q)", tc.name)) {
			continue
		}
		if fi.IsDir() != tc.dir || fi.Mode().IsDir() != tc.dir || fi.Mode().IsRegular() == tc.dir {
			c.errorf("Stat(%q): IsDir() = %v, Mode() = %v; want a %s", tc.name, fi.IsDir(), fi.Mode(), map[bool]string{true: "directory", false: "regular file"}[tc.dir])
		}
		if tc.name != "." && fi.Name() != tc.base {
			c.errorf("Stat(%q).Name() = %q, want %q", tc.name, fi.Name(), tc.base)
		}
		if tc.size >= 0 && fi.Size() != tc.size {
			c.errorf("Stat(%q).Size() = %d, want %d", tc.name, fi.Size(), tc.size)
		}
	}
	c.wantMissing("missing", "Stat")
	_, err := c.fs.Stat("f/x")
	c.wantErr(err, `Stat("f/x") where "f" is a file`, fs.ErrNotExist, vfs.ErrNotDir)

	// Stat sees writes made through an open handle at once.
	f := c.open("f", rdwr)
	_, err = f.WriteAt([]byte("678"), 5)
	c.must(err, "WriteAt")
	fi, err := c.fs.Stat("f")
	if c.ok(err, `Stat("f") while open`) && fi.Size() != 8 {
		c.errorf(`Stat("f").Size() after writing 8 bytes through an open handle = %d, want 8`, fi.Size())
	}
	c.close(f, "f")
}

func checkList(c *checker) {
	names, err := c.fs.List(".")
	if c.ok(err, `List(".") of an empty FS`) && len(names) != 0 {
		c.errorf(`List(".") of an empty FS = %q, want none`, names)
	}
	for _, n := range []string{"c", "a", "b"} {
		c.writeFile(n, []byte(n))
	}
	c.must(c.fs.MkdirAll("d", 0o755), `MkdirAll("d")`)
	c.writeFile("d/y", nil)
	c.wantList(".", []string{"a", "b", "c", "d"}, "after creating c, a, b and d/y")
	c.wantList("d", []string{"y"}, "after creating d/y")
	c.must(c.fs.Remove("b"), `Remove("b")`)
	c.wantList(".", []string{"a", "c", "d"}, `after Remove("b")`)
	c.must(c.fs.Rename("a", "z"), `Rename("a", "z")`)
	c.wantList(".", []string{"c", "d", "z"}, `after Rename("a", "z")`)
	c.must(c.fs.Rename("c", "d/c"), `Rename("c", "d/c")`)
	c.wantList(".", []string{"d", "z"}, `after Rename("c", "d/c")`)
	c.wantList("d", []string{"c", "y"}, `after Rename("c", "d/c")`)

	_, err = c.fs.List("missing")
	c.wantErr(err, `List("missing")`, fs.ErrNotExist)
	_, err = c.fs.List("z")
	c.wantErr(err, `List("z") of a file`, vfs.ErrNotDir)

	// Many names, created in a shuffled order, come back sorted by byte.
	c.must(c.fs.MkdirAll("many", 0o755), `MkdirAll("many")`)
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("%c%02d", "Ba_b"[i%4], i))
	}
	shuffled := slices.Clone(want)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, n := range shuffled {
		c.writeFile("many/"+n, nil)
	}
	slices.Sort(want)
	c.wantList("many", want, "40 files created in a shuffled order")
}

func checkMkdirAll(c *checker) {
	c.must(c.fs.MkdirAll("a/b/c", 0o755), `MkdirAll("a/b/c")`)
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		fi, err := c.fs.Stat(d)
		if c.ok(err, fmt.Sprintf(`Stat(%q) after MkdirAll("a/b/c")`, d)) && !fi.IsDir() {
			c.errorf(`Stat(%q).IsDir() after MkdirAll("a/b/c") = false, want true`, d)
		}
	}
	for _, d := range []string{"a/b/c", "a", "."} {
		c.ok(c.fs.MkdirAll(d, 0o755), fmt.Sprintf("MkdirAll(%q) of an existing directory", d))
	}
	c.writeFile("a/b/c/f", []byte("x"))
	c.wantList("a/b", []string{"c"}, `after MkdirAll("a/b/c")`)

	c.writeFile("file", []byte("x"))
	for _, d := range []string{"file", "file/sub"} {
		c.wantErr(c.fs.MkdirAll(d, 0o755), fmt.Sprintf("MkdirAll(%q) where %q is a file", d, "file"), vfs.ErrNotDir, fs.ErrExist)
	}
	c.wantContent("file", []byte("x"), "after refused MkdirAll over it")
}
