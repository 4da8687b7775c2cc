package sharedcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strings"

	"github.com/holeycow/holeycow/vfs"
)

// Options configure Check.
type Options struct {
	// Tries per read-after-write variant (default 200) and per size and
	// name check (default 50).
	Tries, MetaTries int
	// Seed of the random offsets, sizes and contents (0: random; the
	// Report says which).
	Seed uint64
	// FileSize is the size of the probe file (default 4 MiB).
	FileSize int64
}

// Result is one check's outcome.
type Result struct {
	Check    string // e.g. "read-after-write (reader had read the range)"
	Tries    int
	Failures int
	Example  string // the first failure
	Fix      string // what fixes a failure, "" when none failed
}

// Report is what Check found.
type Report struct {
	Seed    uint64
	Results []Result
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, x := range r.Results {
		if x.Failures > 0 {
			return false
		}
	}
	return true
}

// Failed returns the results with failures.
func (r Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Failures > 0 {
			out = append(out, x)
		}
	}
	return out
}

// String is the report for an operator: one line per check, the fixes of
// the failed ones, and the verdict.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d\n", r.Seed)
	for _, x := range r.Results {
		verdict := "ok"
		if x.Failures > 0 {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "%-4s %-58s %d/%d failed\n", verdict, x.Check, x.Failures, x.Tries)
		if x.Failures > 0 {
			fmt.Fprintf(&b, "       e.g. %s\n       fix: %s\n", x.Example, x.Fix)
		}
	}
	if r.OK() {
		b.WriteString("verdict: usable as holeycow shared storage (as far as these checks see)\n")
	} else {
		b.WriteString("verdict: NOT usable as holeycow shared storage until the fixes above are applied\n")
	}
	return b.String()
}

// Fixes for each kind of finding.
const (
	fixData = "turn off the client caches that serve stale data: GlusterFS volume options " +
		"performance.write-behind, performance.quick-read, performance.io-cache, performance.read-ahead, " +
		"performance.open-behind off and mount with direct-io-mode=enable; NFS: mount with noac (or actimeo=0) " +
		"and lookupcache=none; CephFS/OCFS2/GFS2 are coherent by design: check the mount is the cluster one"
	fixMeta = "turn off attribute caching: GlusterFS performance.stat-prefetch off (md-cache), mount with " +
		"attribute-timeout=0; NFS: noac or actimeo=0"
	fixNames = "turn off name caching: GlusterFS mount with entry-timeout=0 and negative-timeout=0, " +
		"performance.stat-prefetch off; NFS: lookupcache=none"
	fixLocks = "locks must be shared between hosts: NFSv4 (not v3 with nolock/local_lock), GlusterFS (locks xlator, default), " +
		"OCFS2/GFS2 with the cluster lock manager; a local file system is not shared storage"
	fixLockRelease = "a lock released must be free for the others at once (a writer that steps down releases it " +
		"for the next): the file system must carry an unlock to its server before returning; FUSE file systems " +
		"do so for an explicit unlock (vfs.OS unlocks so) but release a lock on close only asynchronously"
	fixSame = "give the same directory as seen from each mount (the views share nothing)"
)

// Check runs the checks on views, each a view of the same directory
// (at least two). It fails only on an I/O error or when the views are
// not of the same directory; findings are in the Report.
func Check(ctx context.Context, views []vfs.FS, o Options) (Report, error) {
	if len(views) < 2 {
		return Report{}, errors.New("sharedcheck: need at least two views of the directory")
	}
	if o.Tries <= 0 {
		o.Tries = 200
	}
	if o.MetaTries <= 0 {
		o.MetaTries = 50
	}
	if o.FileSize <= 0 {
		o.FileSize = 4 << 20
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	rep := Report{Seed: o.Seed}
	var dirb [8]byte
	for i := range dirb {
		dirb[i] = "abcdefghijklmnopqrstuvwxyz"[rng.IntN(26)]
	}
	dir := "holeycow-check-" + string(dirb[:])
	if err := views[0].MkdirAll(dir, 0o700); err != nil {
		return rep, fmt.Errorf("sharedcheck: %w", err)
	}
	defer removeAll(views[0], dir)
	if err := sameDir(views, dir); err != nil {
		return rep, err
	}
	c := &checker{views: views, dir: dir, rng: rng, o: o}
	for _, f := range []func(context.Context) ([]Result, error){c.readAfterWrite, c.durability, c.sizes, c.names, c.locks} {
		rs, err := f(ctx)
		rep.Results = append(rep.Results, rs...)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// sameDir checks that dir, made through views[0], shows through every
// view, within no time at all... or a little: it retries briefly so that
// a non-coherent but shared mount is reported by the name checks, not
// refused here.
func sameDir(views []vfs.FS, dir string) error {
	for i, v := range views[1:] {
		found := false
		for range 50 {
			if fi, err := v.Stat(dir); err == nil && fi.IsDir() {
				found = true
				break
			}
			// Reopen the parent listing: a negative-lookup cache may hide
			// the new directory for a while.
			v.List(".")
		}
		if !found {
			return fmt.Errorf("sharedcheck: view %d does not see directory %s made through view 0: %s", i+1, dir, fixSame)
		}
	}
	return nil
}

func removeAll(v vfs.FS, dir string) {
	names, _ := v.List(dir)
	for _, n := range names {
		v.Remove(path.Join(dir, n))
	}
	v.Remove(dir)
}

type checker struct {
	views []vfs.FS
	dir   string
	rng   *rand.Rand
	o     Options
}

// pairs yields (writer, reader) view indexes: 0 writes, each other reads;
// and the last writes, 0 reads.
func (c *checker) pairs() [][2]int {
	var ps [][2]int
	for i := 1; i < len(c.views); i++ {
		ps = append(ps, [2]int{0, i})
	}
	ps = append(ps, [2]int{len(c.views) - 1, 0})
	return ps
}

func (c *checker) readAfterWrite(ctx context.Context) ([]Result, error) {
	variants := []struct {
		name          string
		readFirst, sy bool
	}{
		{"read-after-write", false, false},
		{"read-after-write (reader had read the range)", true, false},
		{"read-after-write (writer synced)", true, true},
	}
	var out []Result
	for vi, va := range variants {
		r := Result{Check: va.name}
		for _, p := range c.pairs() {
			name := path.Join(c.dir, fmt.Sprintf("data%d-%d-%d", vi, p[0], p[1]))
			w, err := c.views[p[0]].Open(name, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return out, fmt.Errorf("sharedcheck: %w", err)
			}
			if err := w.Truncate(c.o.FileSize); err != nil {
				w.Close()
				return out, fmt.Errorf("sharedcheck: %w", err)
			}
			w.Sync()
			rd, err := openRetry(c.views[p[1]], name)
			if err != nil {
				w.Close()
				return out, err
			}
			err = c.rawTries(ctx, w, rd, va.readFirst, va.sy, p, &r)
			w.Close()
			rd.Close()
			if err != nil {
				return out, err
			}
		}
		if r.Failures > 0 {
			r.Fix = fixData
		}
		out = append(out, r)
	}
	return out, nil
}

// openRetry opens name through v, retrying a little while a name cache
// says it does not exist.
func openRetry(v vfs.FS, name string) (vfs.File, error) {
	var err error
	for range 50 {
		var f vfs.File
		if f, err = v.Open(name, os.O_RDONLY, 0); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		v.List(path.Dir(name))
	}
	return nil, fmt.Errorf("sharedcheck: %w", err)
}

func (c *checker) rawTries(ctx context.Context, w, rd vfs.File, readFirst, sy bool, p [2]int, r *Result) error {
	n := max(1, c.o.Tries/len(c.pairs()))
	for range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := 1 + c.rng.IntN(64<<10)
		if c.rng.IntN(2) == 0 {
			size = 4096
		}
		off := c.rng.Int64N(c.o.FileSize - int64(size))
		buf := make([]byte, size)
		got := make([]byte, size)
		if readFirst {
			if _, err := rd.ReadAt(got, off); err != nil && err != io.EOF {
				return fmt.Errorf("sharedcheck: %w", err)
			}
		}
		for i := range buf {
			buf[i] = byte(c.rng.Uint32())
		}
		if _, err := w.WriteAt(buf, off); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if sy {
			if err := w.Sync(); err != nil {
				return fmt.Errorf("sharedcheck: %w", err)
			}
		}
		clear(got)
		if _, err := rd.ReadAt(got, off); err != nil && err != io.EOF {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		r.Tries++
		if !bytes.Equal(got, buf) {
			r.Failures++
			if r.Example == "" {
				i := 0
				for i < size && got[i] == buf[i] {
					i++
				}
				r.Example = fmt.Sprintf("view %d wrote %d bytes at %d; view %d read them back different from byte %d on", p[0], size, off, p[1], i)
			}
		}
	}
	return nil
}

func (c *checker) sizes(ctx context.Context) ([]Result, error) {
	open := Result{Check: "size through an open file"}
	stat := Result{Check: "size through stat"}
	for _, p := range c.pairs() {
		name := path.Join(c.dir, fmt.Sprintf("size-%d-%d", p[0], p[1]))
		w, err := c.views[p[0]].Open(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sharedcheck: %w", err)
		}
		rd, err := openRetry(c.views[p[1]], name)
		if err != nil {
			w.Close()
			return nil, err
		}
		for range max(1, c.o.MetaTries/len(c.pairs())) {
			if err := ctx.Err(); err != nil {
				w.Close()
				rd.Close()
				return nil, err
			}
			// Read the size first so that a cache has something to keep.
			rd.Size()
			c.views[p[1]].Stat(name)
			want := c.rng.Int64N(1 << 20)
			if err := w.Truncate(want); err != nil {
				w.Close()
				rd.Close()
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			got, err := rd.Size()
			open.Tries++
			if err != nil || got != want {
				open.Failures++
				if open.Example == "" {
					open.Example = fmt.Sprintf("view %d set size %d; view %d's open file says %d (%v)", p[0], want, p[1], got, err)
				}
			}
			fi, err := c.views[p[1]].Stat(name)
			stat.Tries++
			if err != nil || fi.Size() != want {
				stat.Failures++
				if stat.Example == "" {
					var sz int64 = -1
					if fi != nil {
						sz = fi.Size()
					}
					stat.Example = fmt.Sprintf("view %d set size %d; view %d's stat says %d (%v)", p[0], want, p[1], sz, err)
				}
			}
		}
		w.Close()
		rd.Close()
	}
	for _, r := range []*Result{&open, &stat} {
		if r.Failures > 0 {
			r.Fix = fixMeta
		}
	}
	return []Result{open, stat}, nil
}

func (c *checker) names(ctx context.Context) ([]Result, error) {
	create := Result{Check: "create visible"}
	remove := Result{Check: "remove visible"}
	rename := Result{Check: "rename visible (new name there, old gone)"}
	exists := func(v vfs.FS, name string) bool { _, err := v.Stat(name); return err == nil }
	for _, p := range c.pairs() {
		wv, rv := c.views[p[0]], c.views[p[1]]
		for i := range max(1, c.o.MetaTries/len(c.pairs())) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			a := path.Join(c.dir, fmt.Sprintf("name-%d-%d-%d-a", p[0], p[1], i))
			b := path.Join(c.dir, fmt.Sprintf("name-%d-%d-%d-b", p[0], p[1], i))
			// Look both names up first, so a negative cache has entries.
			exists(rv, a)
			exists(rv, b)
			f, err := wv.Open(a, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			f.Close()
			create.Tries++
			if !exists(rv, a) {
				create.Failures++
				if create.Example == "" {
					create.Example = fmt.Sprintf("view %d created %s; view %d does not see it", p[0], a, p[1])
				}
			}
			if err := wv.Rename(a, b); err != nil {
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			rename.Tries++
			if ea, eb := exists(rv, a), exists(rv, b); ea || !eb {
				rename.Failures++
				if rename.Example == "" {
					rename.Example = fmt.Sprintf("view %d renamed %s to %s; view %d sees old: %v, new: %v", p[0], a, b, p[1], ea, eb)
				}
			}
			if err := wv.Remove(b); err != nil {
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			remove.Tries++
			if exists(rv, b) {
				remove.Failures++
				if remove.Example == "" {
					remove.Example = fmt.Sprintf("view %d removed %s; view %d still sees it", p[0], b, p[1])
				}
			}
		}
	}
	for _, r := range []*Result{&create, &remove, &rename} {
		if r.Failures > 0 {
			r.Fix = fixNames
		}
	}
	return []Result{create, remove, rename}, nil
}

func (c *checker) locks(ctx context.Context) ([]Result, error) {
	excl := Result{Check: "lock exclusion between views"}
	free := Result{Check: "lock free in other views once released"}
	for _, p := range c.pairs() {
		for i := range max(1, c.o.MetaTries/len(c.pairs())) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			name := path.Join(c.dir, fmt.Sprintf("lock-%d-%d-%d", p[0], p[1], i))
			l, err := c.views[p[0]].Lock(name)
			if err != nil {
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			excl.Tries++
			l2, err := c.views[p[1]].Lock(name)
			switch {
			case err == nil:
				l2.Close()
				excl.Failures++
				if excl.Example == "" {
					excl.Example = fmt.Sprintf("view %d and view %d both hold the lock on %s", p[0], p[1], name)
				}
			case !errors.Is(err, vfs.ErrLocked):
				l.Close()
				return nil, fmt.Errorf("sharedcheck: %w", err)
			}
			l.Close()
			free.Tries++
			l2, err = c.views[p[1]].Lock(name)
			if err != nil {
				free.Failures++
				if free.Example == "" {
					free.Example = fmt.Sprintf("view %d released the lock on %s; view %d cannot take it at once: %v", p[0], name, p[1], err)
				}
			} else {
				l2.Close()
			}
			c.views[p[0]].Remove(name)
		}
	}
	if excl.Failures > 0 {
		excl.Fix = fixLocks
	}
	if free.Failures > 0 {
		free.Fix = fixLockRelease
	}
	return []Result{excl, free}, nil
}
