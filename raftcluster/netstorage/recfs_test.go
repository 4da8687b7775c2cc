package netstorage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

// recorder watches shared storage: every mutation, by whichever node, is
// logged in order (with its data, so that any prefix of the sequence can be
// replayed), and checked against the writer epochs that have begun: a
// mutation is legal only while its node is the writer of the newest epoch
// begun (invariants 4 and 7).
type recorder struct {
	mu         sync.Mutex
	ops        []recOp
	writer     string // writer of the newest epoch begun
	epoch      uint64
	violations []string
}

type recOp struct {
	node, kind string
	path, to   string
	off        int64
	data       []byte
	flag       int
	epoch      uint64
}

// begin records that node starts as the writer of epoch.
func (r *recorder) begin(node string, epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if node == r.writer && epoch == r.epoch {
		return // a retried BecomeWriter
	}
	if epoch <= r.epoch {
		r.violations = append(r.violations, fmt.Sprintf("%s begins epoch %d after epoch %d (%s) began", node, epoch, r.epoch, r.writer))
		return
	}
	r.writer, r.epoch = node, epoch
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

func (r *recorder) check(node, what string) {
	if r.writer != node {
		r.violations = append(r.violations, fmt.Sprintf("%s: %s while %q is the writer of epoch %d", node, what, r.writer, r.epoch))
	}
}

// mutate runs fn, a mutation by node, and logs it as op.
func (r *recorder) mutate(node string, op recOp, fn func() error) error {
	r.mu.Lock()
	r.check(node, "mutation "+op.kind+" "+op.path+" starts")
	r.mu.Unlock()
	err := fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(node, "mutation "+op.kind+" "+op.path+" ends")
	if err == nil {
		op.node, op.epoch = node, r.epoch
		r.ops = append(r.ops, op)
	}
	return err
}

func (r *recorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.violations) == 0 {
		return nil
	}
	return fmt.Errorf("%d fencing violations, first: %s", len(r.violations), r.violations[0])
}

// replay applies the first n logged mutations to a fresh file system.
func (r *recorder) replay(n int) (*vfs.MemFS, error) {
	r.mu.Lock()
	ops := slices.Clone(r.ops[:n])
	r.mu.Unlock()
	m := vfs.NewMem()
	for _, op := range ops {
		if err := op.apply(m); err != nil {
			return nil, fmt.Errorf("replay %s %s: %w", op.kind, op.path, err)
		}
	}
	return m, nil
}

// slice returns the logged mutations [lo, hi).
func (r *recorder) slice(lo, hi int) []recOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops[lo:hi])
}

func (op recOp) apply(m vfs.FS) error {
	switch op.kind {
	case "open":
		f, err := m.Open(op.path, op.flag&^os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	case "write", "truncate":
		f, err := m.Open(op.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if op.kind == "write" {
			_, err = f.WriteAt(op.data, op.off)
		} else {
			err = f.Truncate(op.off)
		}
		return errors.Join(err, f.Close())
	case "remove":
		return m.Remove(op.path)
	case "rename":
		return m.Rename(op.path, op.to)
	case "mkdir":
		return m.MkdirAll(op.path, 0o755)
	case "lock":
		l, err := m.Lock(op.path)
		if err != nil {
			return err
		}
		return l.Close()
	}
	return fmt.Errorf("unknown op %q", op.kind)
}

// recFS is one node's access to shared storage through the recorder.
type recFS struct {
	vfs.FS
	node string
	rec  *recorder
}

var _ vfs.FS = (*recFS)(nil)

func (f *recFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	var file vfs.File
	open := func() (err error) {
		file, err = f.FS.Open(name, flag, perm)
		return err
	}
	var err error
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		err = f.rec.mutate(f.node, recOp{kind: "open", path: name, flag: flag}, open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	return &recFile{File: file, fs: f, name: name}, nil
}

func (f *recFS) Remove(name string) error {
	return f.rec.mutate(f.node, recOp{kind: "remove", path: name}, func() error { return f.FS.Remove(name) })
}

func (f *recFS) Rename(a, b string) error {
	return f.rec.mutate(f.node, recOp{kind: "rename", path: a, to: b}, func() error { return f.FS.Rename(a, b) })
}

func (f *recFS) MkdirAll(dir string, perm fs.FileMode) error {
	return f.rec.mutate(f.node, recOp{kind: "mkdir", path: dir}, func() error { return f.FS.MkdirAll(dir, perm) })
}

func (f *recFS) Lock(name string) (io.Closer, error) {
	var l io.Closer
	err := f.rec.mutate(f.node, recOp{kind: "lock", path: name}, func() (err error) {
		l, err = f.FS.Lock(name)
		return err
	})
	return l, err
}

type recFile struct {
	vfs.File
	fs   *recFS
	name string
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	var n int
	err := f.fs.rec.mutate(f.fs.node, recOp{kind: "write", path: f.name, off: off, data: bytes.Clone(p)}, func() (err error) {
		n, err = f.File.WriteAt(p, off)
		return err
	})
	return n, err
}

func (f *recFile) Truncate(size int64) error {
	return f.fs.rec.mutate(f.fs.node, recOp{kind: "truncate", path: f.name, off: size}, func() error { return f.File.Truncate(size) })
}

// tree reads a whole file system (vfstest.Snapshot): path -> content,
// "/" suffix for dirs.
func tree(fsys vfs.FS) (map[string]string, error) { return vfstest.Snapshot(fsys) }

// diff describes how two trees differ ("" if equal).
func diff(a, b map[string]string) string {
	var out []string
	for p, x := range a {
		if y, ok := b[p]; !ok {
			out = append(out, fmt.Sprintf("%s only in first (%d bytes)", p, len(x)))
		} else if x != y {
			out = append(out, fmt.Sprintf("%s differs (%d vs %d bytes)", p, len(x), len(y)))
		}
	}
	for p, y := range b {
		if _, ok := a[p]; !ok {
			out = append(out, fmt.Sprintf("%s only in second (%d bytes)", p, len(y)))
		}
	}
	slices.Sort(out)
	if len(out) > 6 {
		out = append(out[:6], fmt.Sprintf("... %d more", len(out)-6))
	}
	return fmt.Sprint(out)[1 : len(fmt.Sprint(out))-1]
}

// fromTree builds a MemFS holding t.
func fromTree(t map[string]string) (*vfs.MemFS, error) {
	m := vfs.NewMem()
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if p[len(p)-1] == '/' {
			if err := m.MkdirAll(p[:len(p)-1], 0o755); err != nil {
				return nil, err
			}
			continue
		}
		if err := vfs.WriteFile(m, p, []byte(t[p]), 0o644); err != nil {
			return nil, err
		}
	}
	return m, nil
}
