package glustertest

import (
	"context"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var ablation = flag.Bool("ablation", false, "run TestOptions_ablation (a volume per option, about 15s each)")

// TestOptions_ablation drops one coherent option at a time and reports
// what breaks: the cross-mount cow run's wrong blocks and the shared
// checks that fail. It only reports (which options matter is a finding,
// recorded in the README), and runs with -ablation.
func TestOptions_ablation(t *testing.T) {
	if !*ablation {
		t.Skip("run with -ablation")
	}
	type variant struct {
		name  string
		vol   map[string]string
		mount []string
	}
	var vs []variant
	for _, k := range slices.Sorted(maps.Keys(gluster.CoherentVolume)) {
		vol := maps.Clone(gluster.CoherentVolume)
		delete(vol, k)
		vs = append(vs, variant{"volume " + k + " on", vol, gluster.CoherentMount})
	}
	for i, m := range gluster.CoherentMount {
		mount := slices.Delete(slices.Clone(gluster.CoherentMount), i, i+1)
		vs = append(vs, variant{"mount without " + m, gluster.CoherentVolume, mount})
	}
	for _, va := range vs {
		t.Run(strings.ReplaceAll(va.name, " ", "_"), func(t *testing.T) {
			v := gluster.Start(t, gluster.Options{Mounts: 2, VolumeOptions: va.vol, MountOptions: va.mount})
			wrong, first := crossMount(t, v, 4)
			if err := os.Mkdir(filepath.Join(v.Mounts[0], "check"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := sharedcheck.Check(ctx, []vfs.FS{vfs.OS(filepath.Join(v.Mounts[0], "check")), vfs.OS(filepath.Join(v.Mounts[1], "check"))},
				sharedcheck.Options{Tries: 60, MetaTries: 12, FileSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range rep.Failed() {
				failed = append(failed, r.Check)
			}
			t.Logf("ABLATION %s: cow wrong blocks %d (%s); failed checks: %v", va.name, wrong, first, failed)
		})
	}
}
