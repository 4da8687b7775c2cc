package netstorage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/vfs"
)

// engine is a small deterministic engine whose physical layout differs
// from node to node (as a real engine's does): every command appends
// "index:cmd\n" to log.txt through a journal file that is created and
// removed, and scribbles node-specific bytes into scratch, which it then
// truncates; each Open rewrites owner with the node's ID. Every write goes
// both to the view and to a model file system that starts, at Open, as a
// copy of the view; so for a copier, model = (shared state at its join or
// reset) + its own operations, which is what its view must show
// (invariant 1). At Open it also checks that the view is the shared state
// at some point of the writer's mutation sequence (invariant 5).
type engine struct {
	id   string
	node func() *raftcluster.Node
	rec  *recorder

	mu     sync.Mutex
	fsys   *dualFS // nil while closed
	model  *vfs.MemFS
	size   int64
	last   uint64
	opens  int
	broken error // an expected failure (fenced, invalidated); recover on the next Apply
	lo     int   // recorder count when the Storage call that may open us began
	errs   []error
}

// expected reports errors that a node meets in normal role changes: its
// command is left to the catch-up of a later Open or Apply.
func expected(err error) bool {
	return errors.Is(err, cow.ErrInvalidated) || errors.Is(err, raftcluster.ErrFenced) ||
		errors.Is(err, cow.ErrStabilize) || errors.Is(err, stability.ErrStaleEpoch) ||
		errors.Is(err, stability.ErrClosed) || errors.Is(err, cow.ErrNotWriter)
}

func (e *engine) markLo() {
	e.mu.Lock()
	e.lo = e.rec.count()
	e.mu.Unlock()
}

func (e *engine) fail(err error) {
	e.errs = append(e.errs, fmt.Errorf("%s: %w", e.id, err))
}

func (e *engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fsys = nil
	return nil
}

func (e *engine) Open(ctx context.Context, fsys vfs.FS) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	view, err := tree(fsys)
	if err != nil {
		return err
	}
	if err := e.checkPrefix(view); err != nil {
		e.fail(err)
	}
	model, err := fromTree(view)
	if err != nil {
		return err
	}
	e.model = model
	e.fsys = &dualFS{view: fsys, model: model, eng: e}
	e.opens++
	e.broken = nil
	if err := vfs.WriteFile(e.fsys, "owner", fmt.Appendf(nil, "%s open %d\n", e.id, e.opens), 0o644); err != nil {
		return err
	}
	return e.catchUpLocked()
}

// checkPrefix verifies that view equals the shared state after some
// number of logged mutations in [lo, now].
func (e *engine) checkPrefix(view map[string]string) error {
	hi := e.rec.count()
	lo := min(e.lo, hi)
	m, err := e.rec.replay(lo)
	if err != nil {
		return err
	}
	ops := e.rec.slice(lo, hi)
	var first string
	for n := lo; ; n++ {
		t, err := tree(m)
		if err != nil {
			return err
		}
		d := diff(view, t)
		if d == "" {
			return nil
		}
		if first == "" {
			first = d
		}
		if n == hi {
			break
		}
		if err := ops[n-lo].apply(m); err != nil {
			return err
		}
	}
	return fmt.Errorf("open %d: view is no prefix of the writer's mutations in [%d, %d]: %s", e.opens+1, lo, hi, first)
}

// catchUpLocked reads the last index in log.txt and replays the log from
// there.
func (e *engine) catchUpLocked() error {
	b, err := vfs.ReadFile(e.fsys, "log.txt")
	if errors.Is(err, fs.ErrNotExist) {
		b, err = nil, nil
	}
	if err != nil {
		return err
	}
	e.size, e.last = int64(len(b)), 0
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(b) > 0 {
		l := lines[len(lines)-1]
		e.last, err = strconv.ParseUint(l[:strings.IndexByte(l, ':')], 10, 64)
		if err != nil {
			return err
		}
	}
	return e.node().ReadLog(e.last+1, func(i uint64, cmd []byte) error { return e.applyLocked(i, string(cmd)) })
}

func (e *engine) applyLocked(i uint64, cmd string) error {
	if i <= e.last {
		return nil
	}
	f := e.fsys
	if err := vfs.WriteFile(f, "journal", []byte(cmd), 0o644); err != nil {
		return err
	}
	lf, err := f.Open("log.txt", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%d:%s\n", i, cmd)
	_, err = lf.WriteAt([]byte(line), e.size)
	if cerr := lf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	e.size += int64(len(line))
	if i%3 == 0 {
		sf, err := f.Open("scratch", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = sf.WriteAt([]byte(strings.Repeat(e.id, 40)), int64(i*37%1500))
		if err == nil {
			err = sf.Truncate(int64(i * 53 % 1200))
		}
		if cerr := sf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if err := f.Remove("journal"); err != nil {
		return err
	}
	e.last = i
	return nil
}

// Apply is the node's ApplyFunc.
func (e *engine) Apply(i uint64, cmd []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fsys == nil {
		return // Open catches up
	}
	if e.broken != nil {
		if err := e.catchUpLocked(); err != nil {
			if !expected(err) {
				e.fail(fmt.Errorf("recover at %d: %w", i, err))
			}
			return
		}
		e.broken = nil
	}
	if err := e.applyLocked(i, string(cmd)); err != nil {
		if expected(err) {
			e.broken = err
			return
		}
		e.fail(fmt.Errorf("apply %d: %w", i, err))
	}
}

// state returns the engine's log and whether it is open and healthy.
//
// It never waits for the engine's lock: inside a synctest bubble, a
// goroutine blocked on a mutex keeps logical time from advancing, and the
// lock may be held by an Apply that waits for a stability round's timeout.
func (e *engine) logText() (string, bool) {
	if !e.mu.TryLock() {
		return "", false
	}
	defer e.mu.Unlock()
	if e.fsys == nil || e.broken != nil {
		return "", false
	}
	b, err := vfs.ReadFile(e.fsys.view, "log.txt")
	if err != nil {
		return "", false
	}
	return string(b), true
}

// checkModel compares the view with the model; with shared non-nil (the
// writer), also shared storage with the view.
func (e *engine) checkModel(shared vfs.FS) error {
	var err error
	if perr := clustertest.Poll(10*time.Second, func() bool {
		if !e.mu.TryLock() {
			return false // see logText
		}
		defer e.mu.Unlock()
		err = e.checkModelLocked(shared)
		return true
	}); perr != nil {
		return fmt.Errorf("%s: engine busy: %w", e.id, perr)
	}
	return err
}

func (e *engine) checkModelLocked(shared vfs.FS) error {
	if e.fsys == nil {
		return fmt.Errorf("%s: engine closed", e.id)
	}
	v, err := tree(e.fsys.view)
	if err != nil {
		return fmt.Errorf("%s: view: %w", e.id, err)
	}
	m, err := tree(e.model)
	if err != nil {
		return err
	}
	if d := diff(v, m); d != "" {
		return fmt.Errorf("%s: view differs from its model: %s", e.id, d)
	}
	if shared != nil {
		s, err := tree(shared)
		if err != nil {
			return err
		}
		if d := diff(v, s); d != "" {
			return fmt.Errorf("%s: writer view differs from shared storage: %s", e.id, d)
		}
	}
	return nil
}

func (e *engine) failures() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs
}

// dualFS sends every operation to the view and, if it succeeded, to the
// model; reads come from the view.
type dualFS struct {
	view  vfs.FS
	model vfs.FS
	eng   *engine
}

var _ vfs.FS = (*dualFS)(nil)

func (d *dualFS) both(op string, err error, merr func() error) error {
	if err != nil {
		return err
	}
	if e := merr(); e != nil {
		d.eng.fail(fmt.Errorf("model %s: %w", op, e))
	}
	return nil
}

func (d *dualFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	vf, err := d.view.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	mf, err := d.model.Open(name, flag, perm)
	if err != nil {
		d.eng.fail(fmt.Errorf("model open %s: %w", name, err))
		vf.Close()
		return nil, err
	}
	return &dualFile{File: vf, m: mf, eng: d.eng}, nil
}

func (d *dualFS) Remove(name string) error {
	return d.both("remove", d.view.Remove(name), func() error { return d.model.Remove(name) })
}

func (d *dualFS) Rename(a, b string) error {
	return d.both("rename", d.view.Rename(a, b), func() error { return d.model.Rename(a, b) })
}

func (d *dualFS) Stat(name string) (fs.FileInfo, error) { return d.view.Stat(name) }
func (d *dualFS) List(dir string) ([]string, error)     { return d.view.List(dir) }

func (d *dualFS) MkdirAll(dir string, perm fs.FileMode) error {
	return d.both("mkdir", d.view.MkdirAll(dir, perm), func() error { return d.model.MkdirAll(dir, perm) })
}

func (d *dualFS) SyncDir(dir string) error { return d.view.SyncDir(dir) }

func (d *dualFS) Lock(name string) (io.Closer, error) { return d.view.Lock(name) }

type dualFile struct {
	vfs.File
	m   vfs.File
	eng *engine
}

func (f *dualFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if err == nil {
		if _, err := f.m.WriteAt(p, off); err != nil {
			f.eng.fail(fmt.Errorf("model write: %w", err))
		}
	}
	return n, err
}

func (f *dualFile) Truncate(size int64) error {
	err := f.File.Truncate(size)
	if err == nil {
		if err := f.m.Truncate(size); err != nil {
			f.eng.fail(fmt.Errorf("model truncate: %w", err))
		}
	}
	return err
}

func (f *dualFile) Close() error {
	f.m.Close()
	return f.File.Close()
}
