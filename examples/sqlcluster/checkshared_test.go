package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCheckShared_localDirectory: one local directory given twice passes,
// with a verdict; a usage error says how.
func TestCheckShared_localDirectory(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := checkSharedMain([]string{"-tries", "20", "-meta-tries", "6", dir, dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "verdict: usable") || !strings.Contains(out.String(), "lock exclusion between views") {
		t.Fatalf("%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := checkSharedMain([]string{dir}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: sqlcluster check-shared") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := checkSharedMain([]string{dir, t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "does not see directory") {
		t.Fatalf("two unrelated directories: exit %d: %s", code, errb.String())
	}
}
