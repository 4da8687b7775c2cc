package raftcluster_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// childEnv marks a child started by runTestWithoutRace, so that a child
// that was built with -race after all (GOFLAGS=-race leaking through)
// fails instead of starting a grandchild.
const childEnv = "HOLEYCOW_RAFTCLUSTER_NORACE_CHILD"

// childBudget bounds a child `go test` run, build included.
const childBudget = 5 * time.Minute

// runTestWithoutRace runs test name of this package in a child `go test`
// built without -race, and fails t unless the child exited cleanly and
// its verbose output shows that exact test passing. The child's output is
// logged when it fails.
//
// The go command is the one `go test` runs us with: since Go 1.19 it puts
// its own GOROOT/bin first in the test's PATH.
func runTestWithoutRace(t *testing.T, name string) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		t.Fatalf("%s=%s but this child was built with -race: refusing to recurse (GOFLAGS=%q)",
			childEnv, os.Getenv(childEnv), os.Getenv("GOFLAGS"))
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to run %s without -race: %v", name, err)
	}
	deadline := time.Now().Add(childBudget)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	// The child's own -timeout fires first, so that a hung child dumps its
	// goroutines instead of being killed silently.
	childTimeout := time.Until(deadline) - 15*time.Second
	if childTimeout < 30*time.Second {
		t.Fatalf("only %v left before the test deadline: too little to run %s in a child", time.Until(deadline), name)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// The working directory of a package's test is that package's
	// directory, so "." is this package.
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-vet=off", "-v",
		"-timeout="+childTimeout.Round(time.Second).String(), "-run=^"+regexp.QuoteMeta(name)+"$", ".")
	cmd.Env = append(withoutRaceFlag(os.Environ()), childEnv+"=1")
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("child go test %s (without -race) failed after %v: %v (ctx: %v)\n%s", name, elapsed.Round(time.Millisecond), err, ctx.Err(), out)
	}
	if err := checkChildRan(out, name); err != "" {
		t.Fatalf("child go test %s (without -race): %s\n%s", name, err, out)
	}
	t.Logf("%s passed in a child go test without -race (%v, build included)", name, elapsed.Round(time.Millisecond))
}

// checkChildRan returns why out, a `go test -v -run=^name$` output, does
// not prove that test name ran and passed ("" if it does).
func checkChildRan(out []byte, name string) string {
	pass := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "--- PASS: "+name+" ("):
			pass = true
		case strings.HasPrefix(line, "--- FAIL:"), strings.HasPrefix(line, "--- SKIP: "+name+" ("):
			return "reported " + line
		case strings.Contains(line, "no tests to run"):
			return "ran no test"
		}
	}
	if err := sc.Err(); err != nil {
		return "reading its output: " + err.Error()
	}
	if !pass {
		return "no --- PASS: " + name + " line"
	}
	return ""
}

// withoutRaceFlag returns env with -race removed from GOFLAGS, so that the
// child really builds without the race detector.
func withoutRaceFlag(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			var keep []string
			for f := range strings.FieldsSeq(v) {
				if f != "-race" && !strings.HasPrefix(f, "-race=") && f != "--race" && !strings.HasPrefix(f, "--race=") {
					keep = append(keep, f)
				}
			}
			kv = "GOFLAGS=" + strings.Join(keep, " ")
		}
		out = append(out, kv)
	}
	return out
}

func TestRunTestWithoutRace_checkChildRan(t *testing.T) {
	const name = "TestX_y"
	for _, tc := range []struct {
		out, err string
	}{
		{"=== RUN   TestX_y\n--- PASS: TestX_y (1.02s)\nPASS\nok  \tpkg\t1.1s\n", ""},
		{"=== RUN   TestX_y\n    x_test.go:1: boom\n--- FAIL: TestX_y (0.01s)\nFAIL\n", "reported --- FAIL: TestX_y (0.01s)"},
		{"=== RUN   TestX_y\n--- SKIP: TestX_y (0.00s)\nPASS\n", "reported --- SKIP: TestX_y (0.00s)"},
		{"testing: warning: no tests to run\nPASS\nok  \tpkg\t0.01s [no tests to run]\n", "ran no test"},
		{"=== RUN   TestX_yz\n--- PASS: TestX_yz (1.00s)\nPASS\n", "no --- PASS: TestX_y line"},
		{"=== RUN   TestX_y\n=== RUN   TestX_y/sub\n    --- FAIL: TestX_y/sub (0.00s)\n--- PASS: TestX_y (0.01s)\n", "reported --- FAIL: TestX_y/sub (0.00s)"},
		{"PASS\n", "no --- PASS: TestX_y line"},
	} {
		if got := checkChildRan([]byte(tc.out), name); got != tc.err {
			t.Errorf("checkChildRan(%q) = %q, want %q", tc.out, got, tc.err)
		}
	}
}

func TestRunTestWithoutRace_withoutRaceFlag(t *testing.T) {
	got := withoutRaceFlag([]string{"HOME=/h", "GOFLAGS=-race -mod=mod -race=true --race", "X=-race"})
	want := []string{"HOME=/h", "GOFLAGS=-mod=mod", "X=-race"}
	if !slices.Equal(got, want) {
		t.Fatalf("withoutRaceFlag = %q, want %q", got, want)
	}
}
