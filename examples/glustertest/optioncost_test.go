package glustertest

import (
	"flag"
	"fmt"
	"maps"
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
// order of the volumes rotates from pass to pass, and each ratio is taken
// against the all-options volume of the same pass, the machine's load
// drifts). Per volume: SQLite's sequential and batched inserts/s (as
// serve opens -shared on a network mount: DropCacheOnOpen), fsync latency
// after a 4 KiB write, and the stability round's storage part (cow.Local,
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
	// vals[variant][metric][round]
	vals := make([][metrics][]float64, len(vs))
	drop := vfs.OSOptions{DropCacheOnOpen: true}
	// Pass -1 warms the volumes up (fresh volumes were slower in a first
	// pass, whichever came first) and is not counted.
	for round := -1; round < *optionCostRounds; round++ {
		for j := range vs {
			i := (j + max(round, 0)) % len(vs) // rotate the order
			va := vs[i]
			dir := fmt.Sprint("cost", round+1)
			for _, sub := range []string{"sql", "lat"} {
				if err := os.MkdirAll(filepath.Join(va.v.Mounts[0], dir, sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			seq, batch := insertRates(t, fmt.Sprint("cost-", i, "-", round+1), vfs.OSWithOptions(filepath.Join(va.v.Mounts[0], dir, "sql"), drop))
			lat0, lat1 := filepath.Join(va.v.Mounts[0], dir, "lat"), filepath.Join(va.v.Mounts[1], dir, "lat")
			fsync := fsyncLatencies(t, vfs.OS(lat0), 40)
			rounds, reads := roundLatencies(t, vfs.OS(lat0), vfs.OSWithOptions(lat1, drop), 40)
			if round < 0 {
				continue
			}
			for m, x := range []float64{seq, batch, float64(fsync.pct(50)), float64(rounds.pct(50)), float64(reads.pct(50))} {
				vals[i][m] = append(vals[i][m], x)
			}
		}
	}
	med := func(x []float64) float64 { x = slices.Clone(x); slices.Sort(x); return x[len(x)/2] }
	for i, va := range vs {
		line := fmt.Sprintf("OPTIONCOST %-46s", va.name)
		for m := range metrics {
			// The option's cost: the all-options volume ÷ this one, per
			// pass (throughput: < 1 means the option slows; latency: > 1).
			var r []float64
			for round := range vals[i][m] {
				r = append(r, vals[0][m][round]/vals[i][m][round])
			}
			line += fmt.Sprintf(" | %s %.3g %v", names[m], med(r), fmtRatios(r))
		}
		t.Log(line)
	}
	for m := range metrics {
		t.Logf("OPTIONCOST all options, %s per pass: %v", names[m], fmtRatios(vals[0][m]))
	}
}
