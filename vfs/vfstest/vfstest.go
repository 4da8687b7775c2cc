package vfstest

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// checkTimeout bounds one check. A check that has not finished by then is
// reported and abandoned (its goroutine keeps running). The self-tests
// shorten it.
var checkTimeout = 30 * time.Second

// A check is one named conformance property.
type check struct {
	name string
	fn   func(c *checker)
}

// checks lists every check that Check runs, in order. Each file of the
// package contributes its group (see the check_*.go files).
var checks = concat(
	openChecks,
	ioChecks,
	namespaceChecks,
	lockChecks,
	closeChecks,
	pathChecks,
	concurrentChecks,
	helperChecks,
)

func concat(groups ...[]check) []check {
	var all []check
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// Check runs every conformance check, each on a fresh FS returned by newFS,
// and returns every problem it found joined with errors.Join, or nil if the
// FS conforms. Each problem names its check ("open/excl: ...") and says what
// was expected and what happened.
//
// tb is passed to newFS, for TempDir and Cleanup; Check itself never fails
// tb. A panic inside the FS under test is recovered and reported as a
// problem of the check it happened in. A check that does not finish within
// 30 seconds (a deadlock, say) is reported and abandoned.
//
// If the FS has a method Check() error, it is called after every check and
// its error is reported.
func Check(tb testing.TB, newFS func(tb testing.TB) vfs.FS) error {
	var problems []error
	for _, ck := range checks {
		problems = append(problems, run(tb, ck, newFS)...)
	}
	return errors.Join(problems...)
}

// TestFS runs Check and reports each problem with t.Error.
func TestFS(t *testing.T, newFS func(tb testing.TB) vfs.FS) {
	t.Helper()
	err := Check(t, newFS)
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			t.Error(e)
		}
		return
	}
	t.Error(err)
}

// run runs one check in its own goroutine and returns its problems.
func run(tb testing.TB, ck check, newFS func(tb testing.TB) vfs.FS) []error {
	c := &checker{name: ck.name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.closeLeftovers()
		c.protect("", func() {
			raw := newFS(tb)
			if raw == nil {
				c.fatalf("newFS returned nil")
			}
			c.raw = raw
			c.fs = watch(raw, c)
			ck.fn(c)
			if chk, ok := raw.(interface{ Check() error }); ok {
				if err := chk.Check(); err != nil {
					c.errorf("%T.Check() after the check: %v", raw, err)
				}
			}
		})
	}()
	timer := time.NewTimer(checkTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.errorf("did not finish within %v (deadlock?); abandoned", checkTimeout)
	}
	return c.problems()
}

// checker is the state of one running check.
//
// Concurrency: errorf and fatalf may be called from any goroutine; the
// other fields are set before the check starts.
type checker struct {
	name string
	raw  vfs.FS // the FS under test
	fs   vfs.FS // raw, watched (see watch.go); checks use this one

	// mu guards the problems found so far and the handles still open.
	mu struct {
		sync.Mutex
		errs   []error
		open   map[any]func() error // handle -> its Close, until closed
		nextID int
	}
}

// fatal is the panic value fatalf uses to stop a check.
type fatal struct{}

func (c *checker) errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.errs = append(c.mu.errs, fmt.Errorf("vfstest: %s: %s", c.name, fmt.Sprintf(format, args...)))
}

// fatalf reports a problem and stops the current goroutine's part of the
// check. Use it only where going on makes no sense.
func (c *checker) fatalf(format string, args ...any) {
	c.errorf(format, args...)
	panic(fatal{})
}

func (c *checker) problems() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.mu.errs...)
}

// protect runs fn, turning a panic into a problem. what describes where
// the panic happened, for the report.
func (c *checker) protect(what string, fn func()) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(fatal); ok {
			return
		}
		if what != "" {
			what = " in " + what
		}
		c.errorf("panic%s: %v\n%s", what, r, debug.Stack())
	}()
	fn()
}

// goAll runs fn(0), ..., fn(n-1) in n goroutines, released together, and
// waits for them. Panics become problems.
func (c *checker) goAll(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c.protect(fmt.Sprintf("goroutine %d", i), func() { fn(i) })
		})
	}
	close(start)
	wg.Wait()
}

// track records a handle that the check has not closed yet.
func (c *checker) track(close func() error) (untrack func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.open == nil {
		c.mu.open = make(map[any]func() error)
	}
	c.mu.nextID++
	id := c.mu.nextID
	c.mu.open[id] = close
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.mu.open, id)
	}
}

// closeLeftovers closes the handles a check left open (because it stopped
// early), so that the FS can be cleaned up.
func (c *checker) closeLeftovers() {
	c.mu.Lock()
	var left []func() error
	for _, cl := range c.mu.open {
		left = append(left, cl)
	}
	c.mu.open = nil
	c.mu.Unlock()
	for _, cl := range left {
		c.protect("Close of a leftover handle", func() { _ = cl() })
	}
}
