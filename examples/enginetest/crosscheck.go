package enginetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// Op is one write of a batch: a put, or a delete when Delete is set.
type Op struct {
	Key, Value string
	Delete     bool
}

// Engine is what CrossCheck drives: a key-value engine open on one FS.
type Engine interface {
	// Write applies a batch atomically and durably (synced).
	Write(ops []Op) error
	// Flush writes the engine's memory table out to files.
	Flush() error
	// Compact compacts the whole key range.
	Compact() error
	// Contents returns every key and value.
	Contents() (map[string]string, error)
	// Check runs the engine's own consistency checks.
	Check() error
	// Close closes the engine.
	Close() error
}

// Opener opens an engine on fsys (the same directory of it every time).
type Opener func(tb testing.TB, fsys vfs.FS) Engine

// PlainOpener opens the engine on plain files in dir through the engine's
// own file system code (not a holeycow vfs.FS).
type PlainOpener func(tb testing.TB, dir string) Engine

// errFenced is what a fenced writer's Guard returns.
var errFenced = errors.New("enginetest: writer fenced")

// CrossCheck runs one seeded sequence of batches, flushes and compactions
// on the engine over plain files (openPlain) and, at the same time, over a
// cow writer view and two copier views of one shared FS, and checks after
// every few steps that all four return the same contents and pass their
// own checks. A third of the way in, copier 1 resets (every engine
// flushed, copier 1's closed, its view reset through the writer, the
// engine reopened on shared storage as the writer left it); halfway,
// every engine compacts (the writer removes tables copier 1 reads); two
// thirds in, the writer is fenced and closed and copier 2 is promoted in
// place (its engine stays open, it adopts the holding area), copier 1
// continuing as the new writer's copier.
//
// It runs the sequence twice, as subtests: "whole" with the default cow
// options (a removed file is preserved whole in the copiers' overlays)
// and "held" with cow.Options.HoldRemoved on every view (zero-copy
// removes: copier 1 reads the tables that the writer's compactions remove
// after its reset from the holding area). "held" fails if no copier read
// a held file; see the package doc for what the engine must do for that.
func CrossCheck(t *testing.T, openPlain PlainOpener, open Opener, seed uint64, steps int) {
	t.Helper()
	t.Run("whole", func(t *testing.T) {
		crossCheck(t, openPlain, open, seed, steps, cow.Options{})
	})
	t.Run("held", func(t *testing.T) {
		crossCheck(t, openPlain, open, seed, steps, cow.Options{HoldRemoved: true})
	})
}

// crossCheck is CrossCheck with opts for every view.
func crossCheck(t *testing.T, openPlain PlainOpener, open Opener, seed uint64, steps int, opts cow.Options) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	heldReads := &heldReadCounter{}
	writer, copiers := ViewsOnWith(t, errorfs.WithErrors(vfs.NewMem(), heldReads), 2, opts)
	var fenced atomic.Bool
	writer.SetGuard(func(context.Context) error {
		if fenced.Load() {
			return errFenced
		}
		return nil
	})
	// held is the most files each writer (before and after the promotion)
	// was seen holding in the holding area.
	var held [2]int
	current := writer
	noteHeld := func() {
		i := 0
		if current != writer {
			i = 1
		}
		held[i] = max(held[i], current.Stats().HeldFiles)
	}

	plain := openPlain(t, t.TempDir())
	names := []string{"plain", "writer", "copier1", "copier2"}
	engines := map[string]Engine{
		"plain":   plain,
		"writer":  open(t, writer),
		"copier1": open(t, copiers[0]),
		"copier2": open(t, copiers[1]),
	}
	defer func() {
		for _, name := range names {
			if e := engines[name]; e != nil {
				if err := e.Close(); err != nil {
					t.Errorf("close %s: %v", name, err)
				}
			}
		}
	}()
	each := func(what string, f func(Engine) error) {
		t.Helper()
		for _, name := range names {
			if e := engines[name]; e != nil {
				if err := f(e); err != nil {
					t.Fatalf("%s on %s: %v", what, name, err)
				}
			}
		}
	}
	compare := func(step int) {
		t.Helper()
		want, err := plain.Contents()
		if err != nil {
			t.Fatalf("step %d: plain: %v", step, err)
		}
		for _, name := range names[1:] {
			e := engines[name]
			if e == nil {
				continue
			}
			got, err := e.Contents()
			if err != nil {
				t.Fatalf("step %d: %s: %v", step, name, err)
			}
			if !maps.Equal(want, got) {
				t.Fatalf("step %d: %s differs from plain files: %s", step, name, diff(want, got))
			}
			if err := e.Check(); err != nil {
				t.Fatalf("step %d: %s: check: %v", step, name, err)
			}
		}
	}

	for step := range steps {
		switch {
		case step == steps/3:
			// Copier 1 resets: close, reset through the writer, reopen.
			// A flush first, so that copier 1 reopens on tables.
			each("flush", Engine.Flush)
			if err := engines["copier1"].Close(); err != nil {
				t.Fatal(err)
			}
			if err := copiers[0].Reset(ctx, writer); err != nil {
				t.Fatalf("reset copier 1: %v", err)
			}
			engines["copier1"] = open(t, copiers[0])
			compare(step)
		case step == steps/2:
			// The writer's compaction removes the tables copier 1 reset
			// onto, which copier 1's compaction then reads.
			each("compact", Engine.Compact)
		case step == 2*steps/3:
			// Fence and close the writer; promote copier 2 in place.
			fenced.Store(true)
			if err := engines["writer"].Close(); err != nil && !errors.Is(err, errFenced) {
				t.Logf("close fenced writer: %v", err)
			}
			engines["writer"] = nil
			if err := copiers[1].Promote(ctx, cow.NewDirect(copiers[0])); err != nil {
				t.Fatalf("promote copier 2: %v", err)
			}
			current = copiers[1]
			compare(step)
		}
		switch r := rng.IntN(100); {
		case r < 3:
			each("flush", Engine.Flush)
		case r < 4:
			each("compact", Engine.Compact)
		default:
			ops := make([]Op, 1+rng.IntN(8))
			for i := range ops {
				k := fmt.Sprintf("key%04d", rng.IntN(400))
				if rng.IntN(5) == 0 {
					ops[i] = Op{Key: k, Delete: true}
				} else {
					ops[i] = Op{Key: k, Value: fmt.Sprintf("v%d-%d-%x", step, i, rng.Uint64()) + string(make([]byte, rng.IntN(200)))}
				}
			}
			each("write", func(e Engine) error { return e.Write(ops) })
		}
		noteHeld()
		if step%25 == 24 {
			compare(step)
		}
	}
	each("flush", Engine.Flush)
	each("compact", Engine.Compact)
	compare(steps)
	noteHeld()
	if s := copiers[1].Stats(); s.StabilizeCalls == 0 {
		t.Errorf("the promoted writer never asked copier 1 to preserve anything: the check proves little")
	}
	for i, v := range []*cow.View{copiers[0], copiers[1]} {
		if err := v.Check(); err != nil {
			t.Errorf("copier %d view: %v", i+1, err)
		}
	}
	if opts.HoldRemoved {
		t.Logf("held files at most: %d before the promotion, %d after; %d reads of held files", held[0], held[1], heldReads.n.Load())
		if heldReads.n.Load() == 0 {
			t.Errorf("no copier read a held file: the holding area was not exercised")
		}
	}
}

// heldReadCounter counts the reads of files in the holding area (cow.HoldDir)
// that reach shared storage. It is an errorfs.Injector that fails nothing.
//
// Concurrency: safe for concurrent use (an atomic counter).
type heldReadCounter struct{ n atomic.Int64 }

func (c *heldReadCounter) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpRead && strings.HasPrefix(op.Path, cow.HoldDir+"/") {
		c.n.Add(1)
	}
	return nil
}

// diff describes how got differs from want (first few keys).
func diff(want, got map[string]string) string {
	var out []string
	keys := slices.Sorted(maps.Keys(want))
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if wok != gok || w != g {
			out = append(out, fmt.Sprintf("%s: want %v %.20q, got %v %.20q", k, wok, w, gok, g))
		}
		if len(out) == 5 {
			break
		}
	}
	return fmt.Sprintf("%d keys vs %d; %v", len(want), len(got), out)
}
