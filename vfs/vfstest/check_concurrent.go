package vfstest

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/holeycow/holeycow/vfs"
)

var concurrentChecks = []check{
	{"concurrent/io", checkConcurrentIO},
	{"concurrent/namespace", checkConcurrentNamespace},
}

// checkConcurrentIO has many goroutines write and read interleaved,
// disjoint chunks of one file (through two handles) while it grows. Each
// goroutine must always read back its own last write, and the final
// content must be every goroutine's last write. Run it with -race.
func checkConcurrentIO(c *checker) {
	const (
		workers = 8
		stripes = 6   // chunks per worker
		chunk   = 509 // odd, so chunks straddle block boundaries
		rounds  = 12
	)
	handles := []vfs.File{c.open("f", rdwrCreate), c.open("f", rdwr)}
	value := func(w, r int) byte { return byte(1 + w*rounds + r) }
	offset := func(w, s int) int64 { return int64((s*workers + w) * chunk) }

	c.goAll(workers, func(w int) {
		h := handles[w%len(handles)]
		other := (w + 1) % workers
		buf := make([]byte, chunk)
		for r := range rounds {
			data := bytes.Repeat([]byte{value(w, r)}, chunk)
			for s := range stripes {
				n, err := h.WriteAt(data, offset(w, s))
				if err != nil || n != chunk {
					c.fatalf("worker %d: WriteAt(len %d, off %d) = %d, %s", w, chunk, offset(w, s), n, got(err))
				}
			}
			for s := range stripes {
				n, err := h.ReadAt(buf, offset(w, s))
				if (err != nil && err != io.EOF) || n != chunk {
					c.fatalf("worker %d: ReadAt(len %d, off %d) of its own chunk = %d, %s", w, chunk, offset(w, s), n, got(err))
				}
				if !bytes.Equal(buf, data) {
					c.fatalf("worker %d, round %d: read back %s at offset %d, want its own write %s", w, r, show(buf), offset(w, s), show(data))
				}
			}
			// Reads of a neighbour's chunk race with its writes; only
			// their results' shape is checked (by the watcher).
			_, _ = h.ReadAt(buf, offset(other, r%stripes))
			if _, err := h.Size(); err != nil {
				c.fatalf("worker %d: Size: %s", w, got(err))
			}
		}
	})

	const total = workers * stripes * chunk
	f := c.open("f", rdonly)
	defer c.close(f, "f")
	c.wantSize(f, total, "after concurrent writes")
	all := make([]byte, total)
	if n, err := f.ReadAt(all, 0); (err != nil && err != io.EOF) || n != total {
		c.fatalf("ReadAt of the whole file after concurrent writes = %d, %s", n, got(err))
	}
	for w := range workers {
		want := bytes.Repeat([]byte{value(w, rounds-1)}, chunk)
		for s := range stripes {
			off := offset(w, s)
			if got := all[off : off+chunk]; !bytes.Equal(got, want) {
				c.errorf("after concurrent writes, chunk %d of worker %d (offset %d) holds %s, want its last write %s", s, w, off, show(got), show(want))
			}
		}
	}
	for i, h := range handles {
		c.close(h, fmt.Sprintf("handle %d", i))
	}
}

// checkConcurrentNamespace has goroutines create, rename, list and remove
// files at once, each in its own directory and all in one shared one.
func checkConcurrentNamespace(c *checker) {
	const workers, rounds = 8, 10
	c.must(c.fs.MkdirAll("shared", 0o755), `MkdirAll("shared")`)
	c.goAll(workers, func(w int) {
		dir := fmt.Sprintf("w%d", w)
		c.must(c.fs.MkdirAll(dir, 0o755), fmt.Sprintf("MkdirAll(%q)", dir))
		for r := range rounds {
			a, b := dir+"/a", dir+"/b"
			data := []byte(fmt.Sprintf("%d.%d", w, r))
			c.writeFile(a, data)
			c.must(c.fs.Rename(a, b), fmt.Sprintf("Rename(%q, %q)", a, b))
			c.wantContent(b, data, "concurrent namespace changes")
			c.wantList(dir, []string{"b"}, "concurrent namespace changes")
			c.must(c.fs.Remove(b), fmt.Sprintf("Remove(%q)", b))
			c.writeFile(fmt.Sprintf("shared/%d-%02d", w, r), data)
			if _, err := c.fs.List("."); err != nil {
				c.fatalf(`List("."): %s`, got(err))
			}
		}
	})
	var want []string
	for w := range workers {
		c.wantList(fmt.Sprintf("w%d", w), nil, "after concurrent namespace changes")
		for r := range rounds {
			want = append(want, fmt.Sprintf("%d-%02d", w, r))
		}
	}
	slices.Sort(want)
	c.wantList("shared", want, "after concurrent creates in one directory")
}
