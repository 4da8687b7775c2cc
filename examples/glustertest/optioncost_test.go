package glustertest

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var optionCost = flag.Bool("optioncost", false, "run TestMeasure_optionCost (a volume per required GlusterFS option, a few minutes)")

// optionCostRounds is the number of interleaved passes of TestMeasure_optionCost.
var optionCostRounds = flag.Int("optioncost-rounds", 3, "passes of TestMeasure_optionCost")

// TestMeasure_optionCost measures the cost of each required GlusterFS
// option on its own: for each, a volume with every required option but
// that one, against a volume with all of them, in interleaved passes (the
// order of the volumes rotates from pass to pass, and each measurement is
// taken between two of the all-options volume, its ratio against their
// geometric mean: the machine's load drifts). Per volume: SQLite's sequential and batched inserts/s (as
// serve opens -shared on a network mount: DropCacheOnOpen), fsync latency
// after a 4 KiB write, and the stability round's storage part (cow.Direct,
// copier on the second mount with DropCacheOnOpen) and copier reads. A
// second volume with all the options gives the noise floor (its ratios
// would be 1 on a quiet machine). Runs with -optioncost; it only reports.
func TestMeasure_optionCost(t *testing.T) {
	if !*optionCost {
		t.Skip("run with -optioncost")
	}
	type variant struct {
		name  string
		vol   map[string]string
		mount []string
		v     *gluster.Volume
	}
	vs := []*variant{
		{name: "all required options", vol: gluster.CoherentVolume, mount: gluster.CoherentMount},
		{name: "all required options (second volume: noise)", vol: gluster.CoherentVolume, mount: gluster.CoherentMount},
	}
	for _, k := range slices.Sorted(maps.Keys(gluster.CoherentVolume)) {
		vol := maps.Clone(gluster.CoherentVolume)
		delete(vol, k)
		vs = append(vs, &variant{name: k + " off", vol: vol, mount: gluster.CoherentMount})
	}
	for i, m := range gluster.CoherentMount {
		vs = append(vs, &variant{name: m, vol: gluster.CoherentVolume, mount: slices.Delete(slices.Clone(gluster.CoherentMount), i, i+1)})
	}
	for _, va := range vs {
		va.v = gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: va.vol, MountOptions: va.mount})
	}
	const metrics = 5 // sequential, batched inserts/s; fsync, round, read p50
	names := [metrics]string{"sequential inserts/s", "batched inserts/s", "fsync p50", "stability round p50", "copier read p50"}
	drop := vfs.OSOptions{DropCacheOnOpen: true}
	n := 0
	measure := func(va *variant) [metrics]float64 {
		n++
		dir := fmt.Sprint("cost", n)
		for _, sub := range []string{"sql", "lat"} {
			if err := os.MkdirAll(filepath.Join(va.v.Mounts[0], dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		seq, batch := insertRatesN(t, fmt.Sprint("cost-", n), vfs.OSWithOptions(filepath.Join(va.v.Mounts[0], dir, "sql"), drop), 100, 10)
		lat0, lat1 := filepath.Join(va.v.Mounts[0], dir, "lat"), filepath.Join(va.v.Mounts[1], dir, "lat")
		fsync := fsyncLatencies(t, vfs.OS(lat0), 40)
		rounds, reads := roundLatencies(t, vfs.OS(lat0), vfs.OSWithOptions(lat1, drop), 40)
		return [metrics]float64{seq, batch, float64(fsync.pct(50)), float64(rounds.pct(50)), float64(reads.pct(50))}
	}
	// Each volume is measured between two measurements of the
	// all-options volume (all, X1, all, X2, all, ...), and its ratio is
	// taken against their geometric mean: the machine's load drifts
	// within a pass. A first measurement of each volume warms it up
	// (fresh volumes were slower) and is not counted.
	others := vs[1:]
	ratios := make([][metrics][]float64, len(vs)) // [variant][metric][pass]
	var allVals [metrics][]float64
	for _, va := range vs {
		measure(va)
	}
	for pass := range *optionCostRounds {
		prev := measure(vs[0])
		for j := range others {
			i := 1 + (j+pass)%len(others) // rotate the order
			x := measure(vs[i])
			next := measure(vs[0])
			for m := range metrics {
				ratios[i][m] = append(ratios[i][m], math.Sqrt(prev[m]*next[m])/x[m])
				allVals[m] = append(allVals[m], prev[m])
			}
			prev = next
		}
	}
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	for i, va := range vs[1:] {
		line := fmt.Sprintf("OPTIONCOST %-46s", va.name)
		for m := range metrics {
			// The option's cost: the all-options volume ÷ this one
			// (throughput: < 1 means the option slows; latency: > 1).
			r := ratios[i+1][m]
			line += fmt.Sprintf(" | %s %.3g %v", names[m], med(r), fmtRatios(r))
		}
		t.Log(line)
	}
	for m := range metrics {
		t.Logf("OPTIONCOST all options, %s (each measurement): %v", names[m], fmtRatios(allVals[m]))
	}
}
