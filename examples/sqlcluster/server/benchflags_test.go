package server_test

import (
	"bytes"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/server"
)

// TestParse_hiddenFlags: -bench-noop-apply parses but stays out of -h.
func TestParse_hiddenFlags(t *testing.T) {
	dir := t.TempDir()
	c, err := server.Parse([]string{"-data", filepath.Join(dir, "d"), "-shared", filepath.Join(dir, "s"), "-bench-noop-apply"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.BenchNoopApply {
		t.Error("-bench-noop-apply not set")
	}
	var out bytes.Buffer
	if _, err := server.Parse([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if strings.Contains(out.String(), "bench-noop-apply") {
		t.Errorf("-h shows the hidden flag:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "-debug") || !strings.Contains(out.String(), "-max-steps steps") {
		t.Errorf("-h lacks visible flags:\n%s", out.String())
	}
}
