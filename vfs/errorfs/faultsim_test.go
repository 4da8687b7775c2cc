package errorfs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// TestFS_faultSim_onIndex fails each op of a multi-step workload in turn
// and checks, against a model, that the file always holds the last
// committed value or the one being written.
func TestFS_faultSim_onIndex(t *testing.T) {
	const maxOps = 10000
	var i int
	for i = 0; i < maxOps; i++ {
		efs := errorfs.WithErrors(vfs.NewMem(), errorfs.OnIndex(i))
		if !runReplaces(t, efs, fmt.Sprintf("OnIndex(%d)", i)) {
			return
		}
		if efs.Injected() == 0 {
			break
		}
	}
	if i == maxOps {
		t.Fatalf("workload still reached the injector after %d ops", maxOps)
	}
	// The workload makes a directory, takes a lock, does 5 replaces of 8
	// ops each and unlocks.
	if want := 1 + 1 + 5*8 + 1; i != want {
		t.Errorf("workload took %d ops, want %d", i, want)
	}
}

// TestFS_faultSim_random runs the workload under random failures.
func TestFS_faultSim_random(t *testing.T) {
	seed := testSeed(t)
	for run := range int64(200) {
		inj := errorfs.Randomly(0.05, seed+run)
		efs := errorfs.WithErrors(vfs.NewMem(), inj)
		if !runReplaces(t, efs, fmt.Sprintf("Randomly(0.05, %d)", seed+run)) {
			return
		}
	}
}

// runReplaces takes a lock, then replaces db/value with v1, ..., v5,
// stopping at the first error, and checks the inner FS after each step.
// It reports whether the test should go on.
func runReplaces(t *testing.T, efs *errorfs.FS, desc string) bool {
	t.Helper()
	inner := efs.Unwrap()
	committed := "" // what db/value must hold; "" for absent
	// check checks the result err of a step that tried to make db/value
	// hold attempted ("" for a step that does not write it).
	check := func(step string, err error, attempted string) bool {
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Errorf("%s: %s failed with %v, want only injected errors", desc, step, err)
			return false
		}
		if err == nil && efs.Injected() > 0 {
			t.Errorf("%s: %s returned nil after an injected failure", desc, step)
			return false
		}
		got, rerr := vfs.ReadFile(inner, "db/value")
		state := string(got)
		if errors.Is(rerr, fs.ErrNotExist) {
			state = ""
		} else if rerr != nil {
			t.Errorf("%s: after %s, reading db/value: %v", desc, step, rerr)
			return false
		}
		if state != committed && state != attempted {
			t.Errorf("%s: after %s (err %v), db/value holds %q, want %q or %q", desc, step, err, state, committed, attempted)
			return false
		}
		committed = state
		return true
	}
	if err := efs.MkdirAll("db", 0o755); err != nil {
		return check("MkdirAll", err, "")
	}
	l, err := efs.Lock("db/LOCK")
	if err != nil {
		return check("Lock", err, "")
	}
	for v := 1; v <= 5; v++ {
		val := fmt.Sprintf("v%d", v)
		err := replace(efs, "db/value", []byte(val))
		if !check("replace "+val, err, val) {
			return false
		}
		if err != nil {
			l.Close()
			return true
		}
	}
	if err := l.Close(); err != nil && !errors.Is(err, vfs.ErrInjected) {
		t.Errorf("%s: unlock: %v", desc, err)
		return false
	}
	if err := inner.(interface{ Check() error }).Check(); err != nil {
		t.Errorf("%s: inner FS: %v", desc, err)
		return false
	}
	return true
}
