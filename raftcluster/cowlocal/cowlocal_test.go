package cowlocal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/raftcluster/cowlocal"
	"github.com/holeycow/holeycow/vfs"
)

// logEngine is a toy engine: it appends "index:cmd\n" to log.txt, skips
// indices it already holds, and catches up from the node's log on Open.
// While closed it queues what ApplyFunc hands it.
type logEngine struct {
	node func() *raftcluster.Node

	mu      sync.Mutex
	fsys    vfs.FS
	f       vfs.File
	size    int64
	last    uint64
	open    bool
	pending []entry
	errs    []error
}

type entry struct {
	index uint64
	cmd   string
}

func (e *logEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.open = false
	if e.f != nil {
		err := e.f.Close()
		e.f = nil
		return err
	}
	return nil
}

func (e *logEngine) Open(ctx context.Context, fsys vfs.FS) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, err := fsys.Open("log.txt", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return err
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		f.Close()
		return err
	}
	e.fsys, e.f, e.size, e.last = fsys, f, size, 0
	if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(b) > 0 {
		last := lines[len(lines)-1]
		e.last, _ = strconv.ParseUint(last[:strings.IndexByte(last, ':')], 10, 64)
	}
	e.open = true
	if err := e.node().ReadLog(e.last+1, func(i uint64, cmd []byte) error { return e.applyLocked(i, string(cmd)) }); err != nil {
		return err
	}
	for _, p := range e.pending {
		if err := e.applyLocked(p.index, p.cmd); err != nil {
			return err
		}
	}
	e.pending = nil
	return nil
}

func (e *logEngine) applyLocked(i uint64, cmd string) error {
	if i <= e.last {
		return nil
	}
	line := fmt.Sprintf("%d:%s\n", i, cmd)
	if _, err := e.f.WriteAt([]byte(line), e.size); err != nil {
		return err
	}
	e.size += int64(len(line))
	e.last = i
	return nil
}

func (e *logEngine) Apply(i uint64, cmd []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.open {
		e.pending = append(e.pending, entry{i, string(cmd)})
		return nil
	}
	if err := e.applyLocked(i, string(cmd)); err != nil {
		e.errs = append(e.errs, fmt.Errorf("apply %d: %w", i, err))
	}
	return nil
}

func (e *logEngine) content(t *testing.T) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.open {
		return "<closed>"
	}
	return readAll(t, e.fsys)
}

func readAll(t *testing.T, fsys vfs.FS) string {
	f, err := fsys.Open("log.txt", os.O_RDONLY, 0)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	defer f.Close()
	n, _ := f.Size()
	b := make([]byte, n)
	f.ReadAt(b, 0)
	return string(b)
}

type rig struct {
	c        *clustertest.Cluster
	shared   *vfs.MemFS
	engines  map[string]*logEngine
	storages map[string]*cowlocal.Storage
	apply    func(k int)
	check    func(stage string)
}

func newRig(t *testing.T, configure func(cfg *raftcluster.Config)) *rig {
	shared := vfs.NewMem()
	group := cowlocal.NewGroup(shared, cow.Options{BlockSize: 512})
	engines := map[string]*logEngine{}
	storages := map[string]*cowlocal.Storage{}
	nodes := map[string]*raftcluster.Node{}
	var mu sync.Mutex
	c := clustertest.New(t, clustertest.Options{Nodes: 3,
		Storage: func(id string) raftcluster.Storage {
			mu.Lock()
			defer mu.Unlock()
			e := &logEngine{node: func() *raftcluster.Node { mu.Lock(); defer mu.Unlock(); return nodes[id] }}
			engines[id] = e
			storages[id] = group.Storage(id, e)
			return storages[id]
		},
		Configure: func(cfg *raftcluster.Config) {
			if configure != nil {
				configure(cfg)
			}
			rec := cfg.Apply
			mu.Lock()
			e := engines[cfg.ID]
			mu.Unlock()
			cfg.Apply = func(i uint64, cmd []byte) []byte { e.Apply(i, cmd); return rec(i, cmd) }
		},
		OnStart: func(id string, n *raftcluster.Node) {
			mu.Lock()
			defer mu.Unlock()
			nodes[id] = n
			storages[id].SetGuard(n.Guard())
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	var want strings.Builder
	apply := func(k int) {
		for i := range k {
			cmd := fmt.Sprintf("c%d-%d", k, i)
			idx, _, err := c.Leader().Apply(ctx, []byte(cmd))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&want, "%d:%s\n", idx, cmd)
		}
	}
	check := func(stage string) {
		t.Helper()
		w, _ := c.Writer()
		c.WaitFor(stage+": all engines agree", 10*time.Second, func() bool {
			for _, n := range c.Live() {
				mu.Lock()
				e := engines[n.ID()]
				mu.Unlock()
				if e.content(t) != want.String() {
					return false
				}
			}
			return true
		})
		// Invariant 6 and the writer's write-through: shared storage
		// is the writer's view.
		if got := readAll(t, shared); got != want.String() {
			t.Fatalf("%s: shared storage:\n%s\nwant (writer %s):\n%s", stage, got, w, want.String())
		}
		for id, e := range engines {
			if len(e.errs) > 0 {
				t.Fatalf("%s: engine %s: %v", stage, id, e.errs)
			}
		}
		for _, n := range c.Live() {
			if err := storages[n.ID()].Check(); err != nil {
				t.Fatalf("%s: %s: %v", stage, n.ID(), err)
			}
		}
	}
	return &rig{c: c, shared: shared, engines: engines, storages: storages, apply: apply, check: check}
}

func TestStorage_cluster_writerFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		c, apply, check, storages := r.c, r.apply, r.check, r.storages
		apply(10)
		check("initial")
		for round := range 2 {
			w, _ := c.Writer()
			c.Kill(w)
			c.Writer()
			apply(5)
			check(fmt.Sprintf("failover %d", round))
			c.Restart(w)
			apply(3)
			check(fmt.Sprintf("restart %d", round))
		}
		// Copiers really are copiers: their overlays hold their own writes.
		apply(2)
		check("final")
		w, _ := c.Writer()
		for _, n := range c.Live() {
			if n.ID() == w {
				continue
			}
			if v := storages[n.ID()].View(); v.Role() != cow.RoleCopier || v.Stats().OverlayBytes == 0 {
				t.Fatalf("%s: role %v overlay %d", n.ID(), v.Role(), v.Stats().OverlayBytes)
			}
		}
	})
}

func TestStorage_cluster_resetKeepsEnginesConsistent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(cfg *raftcluster.Config) {
			cfg.ResetThreshold = 2048
			cfg.ReportInterval = 20 * time.Millisecond
		})
		sub := r.c.Leader().Subscribe(256)
		defer sub.Unsubscribe()
		resets := map[string]int{}
		for round := 0; len(resets) < 2 && round < 20; round++ {
			r.apply(20)
			r.check(fmt.Sprint("round ", round))
			for len(sub.C()) > 0 {
				if ev := <-sub.C(); ev.Kind == raftcluster.EventResetDone {
					resets[ev.Member.ID]++
				}
			}
		}
		if len(resets) < 2 {
			t.Fatalf("resets: %v", resets)
		}
		t.Logf("resets: %v", resets)
	})
}

// nopEngine is an engine that holds nothing: the test reads the views.
type nopEngine struct{}

func (nopEngine) Close() error                       { return nil }
func (nopEngine) Open(context.Context, vfs.FS) error { return nil }

// assertPreserved overwrites log.txt ("old!") through the writer's view
// and checks that the copier still reads the old bytes.
func assertPreserved(t *testing.T, writer, copier vfs.FS) {
	t.Helper()
	if err := vfs.WriteFile(writer, "log.txt", []byte("new!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, copier); got != "old!" {
		t.Fatalf("copier reads %q after the writer's overwrite; want %q", got, "old!")
	}
	if got := readAll(t, writer); got != "new!" {
		t.Fatalf("writer reads %q; want %q", got, "new!")
	}
}

// A member whose copier view is made after the writer's SetCopiers (a late
// joiner, or a deposed writer reopening as a copier) must still be
// preserved for: the writer's later overwrites stay invisible to it
// (invariants 1 and 2).
func TestStorage_BecomeCopier_afterSetCopiers(t *testing.T) {
	ctx := context.Background()
	shared := vfs.NewMem()
	if err := vfs.WriteFile(shared, "log.txt", []byte("old!"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := cowlocal.NewGroup(shared, cow.Options{BlockSize: 512})
	w := g.Storage("w", nopEngine{})
	if err := w.BecomeWriter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	w.SetCopiers(1, 1, nil) // the membership as the writer applied it: no copiers yet
	late := g.Storage("late", nopEngine{})
	if err := late.BecomeCopier(ctx, 1, raftcluster.Member{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	assertPreserved(t, w.FS(), late.FS())
	if err := errors.Join(w.Check(), late.Check()); err != nil {
		t.Fatal(err)
	}
}
