package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "random seed for TestRun_tiny (0: from the clock)")

// TestRun_tiny runs every figure at tiny scale and checks that the values
// are sane: every key is reported, each measured value is finite and
// positive, and each unmeasured one says why. It asserts nothing about
// timing.
func TestRun_tiny(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	// 30 s on a quiet 2-core machine, 90 s and more beside other test
	// packages under load: the bound is for a hang, not for speed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progressOut bytes.Buffer
	rep, err := run(ctx, tinyScale(), t.TempDir(), seed, &progressOut)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progressOut.String())
	}
	if err := rep.Check(); err != nil {
		t.Error(err)
	}
	// Counts of failures and of stability rounds may well be zero.
	mayBeZero := map[string]bool{"failed_requests_c16_60s": true, "stability_rounds_per_1k_seq": true,
		"stability_rounds_per_1k_batch": true, "stability_rounds_per_1k_c16": true,
		"pebble_rounds_per_1k_writes": true, "goleveldb_rounds_per_1k_writes": true}
	for _, m := range metrics {
		v, ok := rep.Value(m.Key)
		note := rep.NoteOf(m.Key)
		switch {
		case ok && (math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (v == 0 && !mayBeZero[m.Key])):
			t.Errorf("%s = %v, want finite and positive", m.Key, v)
		case !ok && !strings.HasPrefix(note, "not measured: "):
			t.Errorf("%s has neither a value nor a reason (note %q)", m.Key, note)
		}
	}
	// Figures 1 to 4 need nothing but the committed packages: they must
	// be measured (at tiny scale overlay_fraction_50k is not reached).
	for _, k := range []string{"writer_ratio_steady_c0", "writer_ratio_steady_c1", "writer_ratio_steady_c3",
		"writer_ratio_first_touch_c3", "copier_read_ratio", "bytes_ratio_3n_vs_1n", "fsync_ratio_3n_vs_1n",
		"bytes_ratio_vs_shared_nothing", "overlay_fraction_1k", "overlay_fraction_10k"} {
		if _, ok := rep.Value(k); !ok {
			t.Errorf("%s not measured: %s", k, rep.NoteOf(k))
		}
	}
	// Holeycow writes what one node writes, whatever the timing.
	if v, _ := rep.Value("bytes_ratio_3n_vs_1n"); math.Abs(v-1) > 0.05 {
		t.Errorf("bytes_ratio_3n_vs_1n = %v, want about 1", v)
	}
	if v, _ := rep.Value("bytes_ratio_vs_shared_nothing"); math.Abs(v-1.0/3) > 0.05 {
		t.Errorf("bytes_ratio_vs_shared_nothing = %v, want about 1/3", v)
	}

	var out bytes.Buffer
	writeTable(&out, rep)
	for _, m := range metrics {
		if !strings.Contains(out.String(), m.Key) {
			t.Errorf("table lacks %s", m.Key)
		}
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep)
	if !strings.HasPrefix(md.String(), "## Performance") || strings.Count(md.String(), "\n|") < len(metrics) {
		t.Errorf("markdown table malformed:\n%s", md.String())
	}
}

func TestWriteJSON_everyKeyOnOneLine(t *testing.T) {
	rep := newReport("test", 2)
	rep.Set("copier_read_ratio", 0.99)
	rep.NotMeasured("gc_ms", "because")
	var out bytes.Buffer
	if err := writeJSON(&out, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("JSON is not one line: %q", out.String())
	}
	var obj map[string]any
	if err := json.Unmarshal(out.Bytes(), &obj); err != nil {
		t.Fatal(err)
	}
	for _, m := range metrics {
		v, ok := obj[m.Key]
		if !ok {
			t.Errorf("key %s missing", m.Key)
		}
		if m.Key == "copier_read_ratio" && v != 0.99 {
			t.Errorf("copier_read_ratio = %v", v)
		}
		if m.Key == "gc_ms" && v != nil {
			t.Errorf("gc_ms = %v, want null", v)
		}
	}
	if n := obj["notes"].(map[string]any)["gc_ms"]; n != "not measured: because" {
		t.Errorf("note = %v", n)
	}
}

func TestReport_Check_missingReason(t *testing.T) {
	rep := newReport("test", 2)
	for _, m := range metrics {
		rep.Set(m.Key, 1)
	}
	if err := rep.Check(); err != nil {
		t.Fatalf("complete report: %v", err)
	}
	rep.mu.Lock()
	delete(rep.mu.values, "gc_ms")
	rep.mu.Unlock()
	if err := rep.Check(); err == nil || !strings.Contains(err.Error(), "gc_ms") {
		t.Fatalf("a key with neither value nor reason passed Check: %v", err)
	}
	rep.NotMeasured("gc_ms", "because")
	rep.Set("bogus", 1)
	if err := rep.Check(); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("an unknown key passed Check: %v", err)
	}
}

func TestReport_Set_notFinite(t *testing.T) {
	rep := newReport("test", 2)
	rep.Set("gc_ms", math.NaN())
	rep.Set("lag_ms_p50", math.Inf(1))
	for _, k := range []string{"gc_ms", "lag_ms_p50"} {
		if _, ok := rep.Value(k); ok {
			t.Errorf("%s: a value that is not finite was recorded", k)
		}
		if !strings.HasPrefix(rep.NoteOf(k), "not measured") {
			t.Errorf("%s: note %q", k, rep.NoteOf(k))
		}
	}
}

func TestMedian_percentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if m := median(xs); m != 3 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of even = %v", m)
	}
	if p := percentile(xs, 99); p != 5 {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(xs, 50); p != 3 {
		t.Errorf("p50 = %v", p)
	}
	if !math.IsNaN(median(nil)) || !math.IsNaN(percentile(nil, 50)) {
		t.Error("empty input should give NaN")
	}
	if xs[0] != 5 {
		t.Error("median sorted its input in place")
	}
}
