package cow

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// glusterModelMount are the mount options of the cross-mount model: the
// attribute, entry and negative-lookup timeouts 0 that serve's self-check
// requires, and the kernel page cache in use (no direct-io-mode): the
// configuration in which a copier must read past its mount's page cache
// itself (vfs.OSOptions.DropCacheOnOpen, as serve opens -shared on a
// network mount).
var glusterModelMount = []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}

// glusterNegative enables modelGluster's plainOS subtest: it must find a
// stale read, which a run does about one time in two, so it takes up to
// 10 runs and most of TestView_gluster's time.
var glusterNegative = flag.Bool("cow.gluster-negative", false, "TestView_gluster: also run the model through a plain vfs.OS, where it must read stale content")

// setRapidFlags sets rapid's flags to vals for the rest of t, except
// those given on the command line.
func setRapidFlags(t *testing.T, vals map[string]string) {
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for name, val := range vals {
		f := flag.Lookup(name)
		if f == nil || explicit[name] {
			continue
		}
		old := f.Value.String()
		if err := f.Value.Set(val); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
}

// glusterModel runs TestView_model's machine under rapid on vol, node i's
// shared storage being a directory of the run on mount i opened with o.
// Each run takes a fresh directory of the volume.
func glusterModel(tb rapid.TB, vol *gluster.Volume, o vfs.OSOptions, prefix string) {
	run := 0
	rapid.Check(tb, func(t *rapid.T) {
		run++
		dir := fmt.Sprintf("%s%d", prefix, run)
		if err := os.Mkdir(filepath.Join(vol.Mounts[0], dir), 0o755); err != nil {
			t.Fatal(err)
		}
		nodes := make([]vfs.FS, modelNodes)
		for i := range nodes {
			nodes[i] = vfs.OSWithOptions(filepath.Join(vol.Mounts[i], dir), o)
		}
		m := &modelMachine{shared: func(node int) vfs.FS { return nodes[node] }}
		m.init(t)
		acts := m.actions()
		// Weighted toward the hazard's shape: an in-place overwrite, then
		// a reset.
		acts["overwrite again"] = m.overwrite
		acts["reset a third time"] = m.reset
		for range 3 {
			t.Repeat(acts)
		}
		m.closeAll(t)
	})
}

// modelGluster runs TestView_model's machine on vol (see
// TestView_gluster): node i's shared storage is a directory seen through
// mount i, so the writer writes through one mount and each copier reads
// through another, and a page a mount cached in an earlier copier
// generation (before a reset, a restart on the same node or a promotion)
// would be served after it. Differences from TestView_model: a crash
// clone exists only for the Mem, so the crash checks after resets, joins,
// restarts and promotions check nothing here (the writer's syncs on a
// real volume are vfs/vfstest/gluster's durability test's matter); and
// the budget is small (2 runs of about 3x20 steps: every step's check
// reads the whole namespace through every mount), raised with
// -rapid.checks and -rapid.steps, and weighted toward the hazard's shape
// (in-place overwrites and resets three times as likely as other steps).
//
// Its subtest plainOS (with -cow.gluster-negative) runs the machine
// through a plain vfs.OS, and must find a stale read (a copier's content
// differing from its model), or the test does not see the hazard.
func modelGluster(t *testing.T, vol *gluster.Volume) {
	setRapidFlags(t, map[string]string{"rapid.checks": "2", "rapid.steps": "20", "rapid.shrinktime": "10s"})
	t.Run("DropCacheOnOpen", func(t *testing.T) {
		glusterModel(t, vol, vfs.OSOptions{DropCacheOnOpen: true}, "drop")
	})
	t.Run("plainOS", func(t *testing.T) {
		if !*glusterNegative {
			t.Skip("the model's negative through a plain vfs.OS runs with -cow.gluster-negative (up to 10 runs, minutes under -race; stalePage/plainOS shows the hazard deterministically)")
		}
		// The first failure is all it needs: no shrinking, no fail file.
		// A run finds a stale read about one time in two.
		setRapidFlags(t, map[string]string{"rapid.checks": "10", "rapid.shrinktime": "1ns", "rapid.nofailfile": "true"})
		rec := &failureTB{T: t}
		glusterModel(rec, vol, vfs.OSOptions{}, "plain")
		fails := rec.failures()
		if len(fails) == 0 {
			t.Fatal("through a plain vfs.OS the model read nothing stale: it does not see the hazard")
		}
		t.Logf("through a plain vfs.OS (expected): %s", fails[0])
		if !strings.Contains(fails[0], "differs from the model") && !strings.Contains(fails[0], "not the model's") {
			t.Fatalf("through a plain vfs.OS the model failed, but not on stale content: %s", fails[0])
		}
	})
}

// failureTB is a rapid.TB that records failures instead of failing the
// test, and drops rapid's logs (the draws of a failing run), for a run
// that must fail. Safe for concurrent use.
type failureTB struct {
	*testing.T // Helper, Name, Skip
	mu         sync.Mutex
	msgs       []string
}

func (f *failureTB) fail(msg string) {
	f.mu.Lock()
	f.msgs = append(f.msgs, msg)
	f.mu.Unlock()
}

func (f *failureTB) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.msgs...)
}

func (f *failureTB) Logf(string, ...any)               {}
func (f *failureTB) Log(...any)                        {}
func (f *failureTB) Errorf(format string, args ...any) { f.fail(fmt.Sprintf(format, args...)) }
func (f *failureTB) Error(args ...any)                 { f.fail(fmt.Sprint(args...)) }
func (f *failureTB) Fatalf(format string, args ...any) { f.fail(fmt.Sprintf(format, args...)) }
func (f *failureTB) Fatal(args ...any)                 { f.fail(fmt.Sprint(args...)) }
func (f *failureTB) FailNow()                          { f.fail("FailNow") }
func (f *failureTB) Fail()                             { f.fail("Fail") }
func (f *failureTB) Failed() bool                      { return len(f.failures()) > 0 }

// stalePageSteps runs the hazard of issue 17 step by step on one 4 KiB
// block of file f: the writer's shared storage is wfs, each copier's is
// cfs() (a node's mount; a restart calls it again). It returns, for each
// step that must see the writer's newest content, what was read and what
// was wanted:
//
//   - reset: a copier reads the block (its mount caches the page) through
//     a file it keeps open, the writer overwrites it (the copier preserves
//     the old content first), the copier resets and reads again through
//     the same open file;
//   - restart: the writer overwrites it again, the copier is discarded and
//     a new one joins on the same mount, and reads;
//   - promotion: the new copier's mount has the page cached; the writer
//     overwrites it, the copier resets without reading it, the writer is
//     discarded and the copier promoted, and it reads as the writer.
func stalePageSteps(t *testing.T, wfs vfs.FS, cfs func() vfs.FS) (steps []string, got, want []string) {
	t.Helper()
	ctx := context.Background()
	const bs = 4096
	opts := Options{BlockSize: bs}
	content := func(gen string) []byte { return bytes.Repeat([]byte(gen), bs/len(gen)) }
	copier, err := NewCopier(cfs(), opts)
	must(t, err)
	writer, err := NewWriter(wfs, NewDirect(copier), opts)
	must(t, err)
	wf, err := writer.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer wf.Close()
	write := func(gen string) {
		t.Helper()
		if _, err := wf.WriteAt(content(gen), 0); err != nil {
			t.Fatal(err)
		}
	}
	readFile := func(f vfs.File) string {
		t.Helper()
		b := make([]byte, bs)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		return string(b[:8])
	}
	read := func(v *View) string {
		t.Helper()
		f, err := v.Open("f", os.O_RDONLY, 0)
		must(t, err)
		defer f.Close()
		return readFile(f)
	}
	check := func(step, g, w string) {
		steps, got, want = append(steps, step), append(got, g), append(want, w)
	}
	write("gen1....")
	must(t, wf.Sync())
	must(t, copier.Reset(ctx, writer)) // the join

	// reset
	cf, err := copier.Open("f", os.O_RDONLY, 0)
	must(t, err)
	defer cf.Close()
	if g := readFile(cf); g != "gen1...." {
		t.Fatalf("the copier's first read: %q, want gen1....", g)
	}
	write("gen2....")
	if g := readFile(cf); g != "gen1...." {
		t.Fatalf("the copier reads %q after the writer's write in its generation, want gen1.... (invariant 1)", g)
	}
	must(t, copier.Reset(ctx, writer))
	check("after a reset", readFile(cf), "gen2....")

	// restart
	write("gen3....")
	must(t, cf.Close())
	copier, err = NewCopier(cfs(), opts)
	must(t, err)
	writer.SetStabilizer(NewDirect(copier))
	must(t, copier.Reset(ctx, writer))
	check("after a restart", read(copier), "gen3....")

	// promotion
	write("gen4....")
	must(t, copier.Reset(ctx, writer))
	must(t, wf.Close())
	must(t, copier.Promote(ctx, NewDirect()))
	check("after a promotion", read(copier), "gen4....")
	return steps, got, want
}

// stalePageGluster: stalePageSteps with the writer on mount 0 and the
// copier on mount 1 of vol, whose mounts keep the kernel's page cache.
// Through
// vfs.OSOptions.DropCacheOnOpen the copier reads the writer's newest
// content after a reset, a restart and a promotion; through a plain
// vfs.OS it reads the page its mount cached in the first generation at
// each of them, which the test requires too (or it does not see the
// hazard).
func stalePageGluster(t *testing.T, vol *gluster.Volume) {
	for _, tc := range []struct {
		name  string
		o     vfs.OSOptions
		stale bool
	}{
		{"DropCacheOnOpen", vfs.OSOptions{DropCacheOnOpen: true}, false},
		{"plainOS", vfs.OSOptions{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Mkdir(filepath.Join(vol.Mounts[0], tc.name), 0o755); err != nil {
				t.Fatal(err)
			}
			wfs := vfs.OS(filepath.Join(vol.Mounts[0], tc.name))
			cfs := func() vfs.FS { return vfs.OSWithOptions(filepath.Join(vol.Mounts[1], tc.name), tc.o) }
			steps, got, want := stalePageSteps(t, wfs, cfs)
			for i, step := range steps {
				switch {
				case !tc.stale && got[i] != want[i]:
					t.Errorf("%s: read %q, want %q (a page cached in an earlier generation)", step, got[i], want[i])
				case tc.stale && got[i] == want[i]:
					t.Errorf("%s: read %q through a plain vfs.OS: the test does not see the hazard", step, got[i])
				case tc.stale:
					t.Logf("%s: read %q, not %q (expected through a plain vfs.OS)", step, got[i], want[i])
				}
			}
		})
	}
}

// TestView_gluster runs the views across the mounts of one GlusterFS
// replica-3 volume (vfs/vfstest/gluster; it skips, saying why, where
// GlusterFS cannot run), one mount per node, as nodes on separate hosts
// see one cluster file system through their own client caches. The
// volume has the client-side caches off (gluster.CoherentVolume) and the
// mounts the attribute, entry and negative timeouts 0 (what serve's
// self-check requires), but the kernel's page cache on: serve's
// configuration when it reads shared storage with
// vfs.OSOptions.DropCacheOnOpen, where a copier must never read a page
// its mount cached in an earlier generation (issue 17). stalePage
// (stalePageGluster) shows the hazard step by step, model
// (modelGluster) runs TestView_model's machine; each also runs through a
// plain vfs.OS, where it must read stale content.
func TestView_gluster(t *testing.T) {
	vol := gluster.Start(t, gluster.Options{Mounts: modelNodes, VolumeOptions: gluster.CoherentVolume, MountOptions: glusterModelMount})
	t.Run("stalePage", func(t *testing.T) { stalePageGluster(t, vol) })
	t.Run("model", func(t *testing.T) { modelGluster(t, vol) })
}
