package vfs_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// crash returns m's crash clone, checked at the end of the test.
func crash(t testing.TB, m *vfs.MemFS, seed int64, p float64) *vfs.MemFS {
	t.Helper()
	c := m.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsynced: p})
	checkAtEnd(t, c)
	return c
}

// TestMemFS_CrashClone_synced checks that synced data and synced entries
// survive whatever the probability, and unsynced ones only as configured.
func TestMemFS_CrashClone_synced(t *testing.T) {
	seed := testSeed(t)
	m := newMem(t)
	must(t, m.MkdirAll("d", 0o755))
	f := open(t, m, "d/f", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	writeAt(t, f, "synced", 0)
	must(t, f.Sync())
	must(t, m.SyncDir("d"))
	must(t, m.SyncDir("."))
	synced := map[string]string{"d/": "", "d/f": "synced"}

	writeAt(t, f, "SYNCED, then more", 0)
	must(t, vfs.WriteFile(m, "d/new", []byte("new"), 0o644))
	current := map[string]string{"d/": "", "d/f": "SYNCED, then more", "d/new": "new"}

	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		for i := range int64(20) {
			snap := snapshot(t, crash(t, m, seed+i, p))
			if got := snap["d/f"]; got != "synced" && got != "SYNCED, then more" {
				t.Errorf("p=%v seed %d: d/f = %q, want the synced or the current content", p, seed+i, got)
			}
			if got, ok := snap["d/new"]; ok && got != "" && got != "new" {
				t.Errorf("p=%v seed %d: d/new = %q", p, seed+i, got)
			}
		}
	}
	if d := diffSnapshots(snapshot(t, crash(t, m, seed, 0)), synced); d != "" {
		t.Errorf("p=0 keeps more than the synced state:%s", d)
	}
	if d := diffSnapshots(snapshot(t, crash(t, m, seed, 1)), current); d != "" {
		t.Errorf("p=1 does not keep the current state:%s", d)
	}
	// The original is unchanged by crashing it.
	if d := diffSnapshots(snapshot(t, m), current); d != "" {
		t.Errorf("the original changed:%s", d)
	}
}

// TestMemFS_CrashClone_probability writes many unsynced changes and checks
// that p=0.5 keeps some and drops some, deterministically per seed.
func TestMemFS_CrashClone_probability(t *testing.T) {
	seed := testSeed(t)
	const n = 1000
	m := newMem(t)
	// One file per write, so each write's fate is visible on its own, and
	// one file with many writes at distinct offsets.
	files := make([]vfs.File, n)
	for i := range files {
		files[i] = open(t, m, fmt.Sprintf("f%04d", i), os.O_RDWR|os.O_CREATE)
		defer files[i].Close()
	}
	g := open(t, m, "g", os.O_RDWR|os.O_CREATE)
	defer g.Close()
	must(t, g.Truncate(n))
	syncAll(t, m)
	for i, f := range files {
		writeAt(t, f, fmt.Sprint(i), 0)
	}
	for i := range n {
		writeAt(t, g, "x", int64(i))
	}

	count := func(c *vfs.MemFS) (files, bytes int) {
		snap := snapshot(t, c)
		for i := range n {
			switch got := snap[fmt.Sprintf("f%04d", i)]; got {
			case fmt.Sprint(i):
				files++
			case "":
			default:
				t.Fatalf("f%04d = %q", i, got)
			}
		}
		for _, b := range []byte(snap["g"]) {
			if b == 'x' {
				bytes++
			}
		}
		if len(snap["g"]) != n {
			t.Fatalf("g has %d bytes, want %d", len(snap["g"]), n)
		}
		return files, bytes
	}
	for _, p := range []float64{0, 1} {
		if files, bytes := count(crash(t, m, seed, p)); files != int(p)*n || bytes != int(p)*n {
			t.Errorf("p=%v: %d files and %d bytes kept, want %d", p, files, bytes, int(p)*n)
		}
	}
	// With n=1000 and p=0.5, the count is 500±16 (one standard
	// deviation); outside [350, 650] is more than 9 deviations away.
	files1, bytes1 := count(crash(t, m, seed, 0.5))
	for _, k := range []int{files1, bytes1} {
		if k < 350 || k > 650 {
			t.Errorf("p=0.5: kept %d of %d writes, want about half", k, n)
		}
	}
	t.Logf("p=0.5: kept %d files and %d bytes of %d", files1, bytes1, n)

	a := snapshot(t, crash(t, m, seed, 0.5))
	b := snapshot(t, crash(t, m, seed, 0.5))
	if d := diffSnapshots(a, b); d != "" {
		t.Errorf("two clones with the same seed differ:%s", d)
	}
	if d := diffSnapshots(a, snapshot(t, crash(t, m, seed+1, 0.5))); d == "" {
		t.Errorf("clones with seeds %d and %d are equal", seed, seed+1)
	}
}

// TestMemFS_CrashClone_order checks that the unsynced writes that survive
// are applied in their original order: of several writes to the same
// bytes, the last survivor wins.
func TestMemFS_CrashClone_order(t *testing.T) {
	seed := testSeed(t)
	m := newMem(t)
	f := open(t, m, "f", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	syncAll(t, m)
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	// Each write covers [0, k) with byte k, so the survivors' order shows.
	var ks []int
	for range 20 {
		k := 1 + r.IntN(30)
		ks = append(ks, k)
		writeAt(t, f, string(repeat(byte(k), k)), 0)
	}
	for i := range int64(50) {
		got := []byte(snapshot(t, crash(t, m, seed+i, 0.5))["f"])
		if !replayable(got, ks) {
			t.Errorf("seed %d: content %v is not the result of any subsequence of the writes %v in order", seed+i, got, ks)
		}
	}
}

// replayable reports whether content results from applying some
// subsequence of the writes ks (write i puts byte ks[i] at [0, ks[i])) to
// an empty file, in order.
func replayable(content []byte, ks []int) bool {
	// The content must be segments [0, a1) of byte a1, [a1, a2) of byte
	// a2, ... with a1 < a2 < ...: a1 is the last surviving write, a2 the
	// last one before it that reaches further, and so on.
	var chain []int
	for pos := 0; pos < len(content); {
		a := int(content[pos])
		if a <= pos || a > len(content) {
			return false
		}
		for _, b := range content[pos:a] {
			if int(b) != a {
				return false
			}
		}
		chain = append(chain, a)
		pos = a
	}
	// Those writes must have happened in reverse chain order.
	i := len(ks) - 1
	for _, a := range chain {
		for i >= 0 && ks[i] != a {
			i--
		}
		if i < 0 {
			return false
		}
		i--
	}
	return true
}

func repeat(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// TestMemFS_CrashClone_namespace checks the durability of creations,
// removals and renames, with and without SyncDir.
func TestMemFS_CrashClone_namespace(t *testing.T) {
	t.Run("create unsynced", func(t *testing.T) {
		m := newMem(t)
		f := open(t, m, "f", os.O_RDWR|os.O_CREATE)
		writeAt(t, f, "data", 0)
		must(t, f.Sync()) // the content is synced, the name is not
		must(t, f.Close())
		wantMissing(t, crash(t, m, 1, 0), "f")
		wantContent(t, crash(t, m, 1, 1), "f", "data")
		must(t, m.SyncDir("."))
		wantContent(t, crash(t, m, 1, 0), "f", "data")
	})
	t.Run("directory entry unsynced", func(t *testing.T) {
		// d/f is synced in d, but d itself was never synced in the root.
		m := newMem(t)
		must(t, m.MkdirAll("d", 0o755))
		must(t, vfs.WriteFile(m, "d/f", []byte("x"), 0o644))
		f := open(t, m, "d/f", os.O_RDONLY)
		must(t, f.Sync())
		must(t, f.Close())
		must(t, m.SyncDir("d"))
		wantMissing(t, crash(t, m, 1, 0), "d")
		must(t, m.SyncDir("."))
		wantContent(t, crash(t, m, 1, 0), "d/f", "x")
	})
	t.Run("remove unsynced", func(t *testing.T) {
		m := newMem(t)
		must(t, vfs.WriteFile(m, "f", []byte("data"), 0o644))
		syncAll(t, m)
		f := open(t, m, "f", os.O_RDWR)
		defer f.Close()
		must(t, m.Remove("f"))
		writeAt(t, f, "DATA", 0) // to an unlinked file
		must(t, f.Sync())
		// The removal is lost at p=0: the file is back, with the content
		// synced through the handle after the removal.
		wantContent(t, crash(t, m, 1, 0), "f", "DATA")
		wantMissing(t, crash(t, m, 1, 1), "f")
		must(t, m.SyncDir("."))
		wantMissing(t, crash(t, m, 1, 0), "f")
	})
	t.Run("truncate unsynced", func(t *testing.T) {
		m := newMem(t)
		must(t, vfs.WriteFile(m, "f", []byte("data"), 0o644))
		syncAll(t, m)
		f := open(t, m, "f", os.O_RDWR|os.O_TRUNC)
		must(t, f.Close())
		wantContent(t, crash(t, m, 1, 0), "f", "data")
		wantContent(t, crash(t, m, 1, 1), "f", "")
	})
	t.Run("rename atomic", func(t *testing.T) {
		// Whatever survives, a synced file renamed once is under exactly
		// one of its names.
		m := newMem(t)
		must(t, m.MkdirAll("a", 0o755))
		must(t, m.MkdirAll("b", 0o755))
		must(t, vfs.WriteFile(m, "a/f", []byte("f"), 0o644))
		syncAll(t, m)
		must(t, m.Rename("a/f", "b/g"))
		seed := testSeed(t)
		seen := map[string]bool{}
		for i := range int64(40) {
			snap := snapshot(t, crash(t, m, seed+i, 0.5))
			_, old := snap["a/f"]
			_, new := snap["b/g"]
			if old == new {
				t.Fatalf("seed %d: a/f present %v, b/g present %v; want exactly one", seed+i, old, new)
			}
			seen[fmt.Sprint(old)] = true
		}
		if len(seen) != 2 {
			t.Errorf("40 crashes at p=0.5 all gave the same outcome %v", seen)
		}
		// Syncing the target directory makes the whole rename durable.
		must(t, m.SyncDir("b"))
		snap := snapshot(t, crash(t, m, seed, 0))
		if _, old := snap["a/f"]; old || snap["b/g"] != "f" {
			t.Errorf("after SyncDir(b), p=0: %v; want only b/g", snap)
		}
	})
	t.Run("rename chain", func(t *testing.T) {
		// A file created and renamed twice, nothing synced: it ends up
		// under at most one name, and a new file under a name survives
		// only with the rename that freed the name.
		seed := testSeed(t)
		m := newMem(t)
		// The files' contents are synced, so that they tell the files
		// apart; only the names are at stake.
		create := func(name, data string) {
			f := open(t, m, name, os.O_RDWR|os.O_CREATE|os.O_EXCL)
			writeAt(t, f, data, 0)
			must(t, f.Sync())
			must(t, f.Close())
		}
		create("a", "x")
		must(t, m.Rename("a", "b"))
		must(t, m.Rename("b", "c"))
		create("a", "second a")
		outcomes := map[string]bool{}
		for i := range int64(100) {
			snap := snapshot(t, crash(t, m, seed+i, 0.5))
			names := ""
			for _, n := range []string{"a", "b", "c"} {
				if snap[n] == "x" {
					names += n
				}
			}
			if len(names) > 1 {
				t.Fatalf("seed %d: the file is under %q at once: %v", seed+i, names, snap)
			}
			if snap["a"] == "second a" && names == "" {
				t.Fatalf("seed %d: the second a survived without the rename of the first: %v", seed+i, snap)
			}
			outcomes[names] = true
		}
		t.Logf("outcomes: %v", outcomes)
	})
	t.Run("sync target commits source", func(t *testing.T) {
		m := newMem(t)
		must(t, m.MkdirAll("a", 0o755))
		must(t, m.MkdirAll("b", 0o755))
		syncAll(t, m)
		must(t, vfs.WriteFile(m, "a/f", []byte("f"), 0o644)) // unsynced creation
		must(t, m.Rename("a/f", "b/f"))
		must(t, m.SyncDir("b"))
		// The creation of a/f is a dependency of the rename: it became
		// durable with it, and a/f's removal with it.
		snap := snapshot(t, crash(t, m, 1, 0))
		if d := diffSnapshots(snap, map[string]string{"a/": "", "b/": "", "b/f": ""}); d != "" {
			t.Errorf("p=0:%s", d)
		}
	})
}

// TestMemFS_CrashClone_fullySynced checks that a clone is fully synced
// and independent of the original.
func TestMemFS_CrashClone_fullySynced(t *testing.T) {
	m := newMem(t)
	must(t, m.MkdirAll("d/e", 0o755))
	must(t, vfs.WriteFile(m, "d/e/f", []byte("abc"), 0o644))
	c := crash(t, m, 7, 1)
	if st := c.Stats(); st != (vfs.MemStats{}) {
		t.Errorf("clone Stats() = %+v, want zero", st)
	}
	want := snapshot(t, c)
	if d := diffSnapshots(snapshot(t, crash(t, c, 8, 0)), want); d != "" {
		t.Errorf("crashing a clone lost:%s", d)
	}
	must(t, vfs.WriteFile(c, "d/e/f", []byte("changed"), 0o644))
	must(t, vfs.WriteFile(m, "d/e/g", nil, 0o644))
	wantContent(t, m, "d/e/f", "abc")
	wantMissing(t, c, "d/e/g")
}

func TestMemFS_CrashClone_locks(t *testing.T) {
	m := newMem(t)
	l, err := m.Lock("LOCK")
	must(t, err)
	defer l.Close()
	must(t, m.SyncDir("."))
	c := crash(t, m, 1, 0)
	l2, err := c.Lock("LOCK")
	if err != nil {
		t.Fatalf("Lock on the clone: %v; locks must not survive a crash", err)
	}
	must(t, l2.Close())
}

// TestMemFS_CrashClone_deterministic checks that the same history on two
// MemFSs crashes the same way under the same seed.
func TestMemFS_CrashClone_deterministic(t *testing.T) {
	seed := testSeed(t)
	history := func() *vfs.MemFS {
		m := newMem(t)
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		must(t, m.MkdirAll("d", 0o755))
		syncAll(t, m)
		for i := range 200 {
			name := fmt.Sprintf("d/f%d", r.IntN(20))
			f := open(t, m, name, os.O_RDWR|os.O_CREATE)
			writeAt(t, f, fmt.Sprint(i), int64(r.IntN(10)))
			if r.IntN(4) == 0 {
				must(t, f.Sync())
			}
			must(t, f.Close())
			switch r.IntN(10) {
			case 0:
				must(t, m.Rename(name, fmt.Sprintf("d/f%d", r.IntN(20))))
			case 1:
				must(t, m.Remove(name))
			case 2:
				must(t, m.SyncDir("d"))
			}
		}
		return m
	}
	a, b := history(), history()
	for i := range int64(10) {
		sa := snapshot(t, crash(t, a, seed+i, 0.5))
		sb := snapshot(t, crash(t, b, seed+i, 0.5))
		if d := diffSnapshots(sa, sb); d != "" {
			t.Fatalf("seed %d: the same history crashed differently:%s", seed+i, d)
		}
	}
}
