package main

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestFigLSM_tiny runs figure 13 alone at tiny scale: every key is
// measured, the ratios and the overlay fraction are positive, and the
// rounds per 1,000 writes are counted (the numbers mean nothing).
func TestFigLSM_tiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sc := tinyScale()
	sc.Only = map[int]bool{13: true}
	var progressOut bytes.Buffer
	rep, err := run(ctx, sc, t.TempDir(), 1, &progressOut)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progressOut.String())
	}
	for _, k := range keysOf(13) {
		v, ok := rep.Value(k)
		if !ok {
			t.Errorf("%s not measured: %s", k, rep.NoteOf(k))
			continue
		}
		if v < 0 || (v == 0 && k != "pebble_rounds_per_1k_writes" && k != "goleveldb_rounds_per_1k_writes") {
			t.Errorf("%s = %v", k, v)
		}
	}
	for _, d := range rep.Details() {
		t.Log(d)
	}
}
