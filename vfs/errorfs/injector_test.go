package errorfs_test

import (
	"errors"
	"flag"
	"io/fs"
	"math"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Int64("seed", 0, "seed for randomized tests (0: pick one and log it)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t *testing.T) int64 {
	return int64(vfstest.Seed(t, uint64(*seedFlag)))
}

var anyOp = errorfs.Op{Kind: errorfs.OpWrite, Path: "f", Off: 0, Len: 1}

// fails runs inj on n copies of op and returns which failed.
func fails(inj errorfs.Injector, op errorfs.Op, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = inj.MaybeError(op) != nil
	}
	return out
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestOpKind_String(t *testing.T) {
	seen := map[string]errorfs.OpKind{}
	for _, k := range errorfs.Kinds() {
		s := k.String()
		if prev, dup := seen[s]; dup {
			t.Errorf("kinds %d and %d are both named %q", prev, k, s)
		}
		seen[s] = k
	}
	if len(seen) != 18 {
		t.Errorf("Kinds() has %d kinds, want 18", len(seen))
	}
	if got := errorfs.OpKind(0).String(); got != "OpKind(0)" {
		t.Errorf("OpKind(0).String() = %q, want %q", got, "OpKind(0)")
	}
	if got := errorfs.OpWrite.String(); got != "write" {
		t.Errorf("OpWrite.String() = %q, want %q", got, "write")
	}
}

func TestOpKind_classes(t *testing.T) {
	const r, w, m = "read", "write", "mutation"
	want := map[errorfs.OpKind][]string{
		errorfs.OpOpen:      {r},
		errorfs.OpCreate:    {w, m},
		errorfs.OpRemove:    {w, m},
		errorfs.OpRemoveAll: {w, m},
		errorfs.OpRename:    {w, m},
		errorfs.OpStat:      {r},
		errorfs.OpList:      {r},
		errorfs.OpMkdirAll:  {w, m},
		errorfs.OpLock:      {w, m},
		errorfs.OpUnlock:    {},
		errorfs.OpSyncDir:   {w},
		errorfs.OpRead:      {r},
		errorfs.OpWrite:     {w, m},
		errorfs.OpTruncate:  {w, m},
		errorfs.OpSync:      {w},
		errorfs.OpSyncData:  {w},
		errorfs.OpSize:      {r},
		errorfs.OpClose:     {},
	}
	for _, k := range errorfs.Kinds() {
		classes, ok := want[k]
		if !ok {
			t.Errorf("kind %v missing from the test table", k)
			continue
		}
		has := func(c string) bool {
			for _, x := range classes {
				if x == c {
					return true
				}
			}
			return false
		}
		if k.IsRead() != has(r) || k.IsWrite() != has(w) || k.IsMutation() != has(m) {
			t.Errorf("%v: IsRead %v, IsWrite %v, IsMutation %v; want %v", k, k.IsRead(), k.IsWrite(), k.IsMutation(), classes)
		}
	}
}

func TestOp_String(t *testing.T) {
	for _, tc := range []struct {
		op   errorfs.Op
		want string
	}{
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "db/main.db", Off: 4096, Len: 512}, "write db/main.db [4096:+512]"},
		{errorfs.Op{Kind: errorfs.OpRename, Path: "a", NewPath: "b"}, "rename a -> b"},
		{errorfs.Op{Kind: errorfs.OpTruncate, Path: "f", Off: 7}, "truncate f 7"},
		{errorfs.Op{Kind: errorfs.OpSyncDir, Path: "."}, "syncdir ."},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.op, got, tc.want)
		}
	}
}

func TestAlways_MaybeError(t *testing.T) {
	if err := errorfs.Always().MaybeError(anyOp); err != vfs.ErrInjected {
		t.Errorf("Always().MaybeError = %v, want vfs.ErrInjected", err)
	}
}

func TestOnIndex_MaybeError(t *testing.T) {
	for i := -1; i < 5; i++ {
		got := fails(errorfs.OnIndex(i), anyOp, 8)
		for j, failed := range got {
			if failed != (j == i) {
				t.Errorf("OnIndex(%d): op %d failed = %v, want %v", i, j, failed, j == i)
			}
		}
	}
}

func TestOnIndex_MaybeError_concurrent(t *testing.T) {
	const workers, each = 8, 200
	inj := errorfs.OnIndex(777)
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if inj.MaybeError(anyOp) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 1 {
		t.Errorf("OnIndex(777) failed %d of %d concurrent ops, want exactly 1", n, workers*each)
	}
}

func TestRandomly_MaybeError(t *testing.T) {
	seed := testSeed(t)
	const n = 10000
	for _, tc := range []struct {
		p      float64
		lo, hi int
	}{
		{0, 0, 0},
		{-1, 0, 0},
		{math.NaN(), 0, 0},
		{1, n, n},
		{2, n, n},
		// Binomial(10000, 0.3): sd ~ 46; the bounds are ~6.5 sd away.
		{0.3, 2700, 3300},
	} {
		got := countTrue(fails(errorfs.Randomly(tc.p, seed), anyOp, n))
		if got < tc.lo || got > tc.hi {
			t.Errorf("Randomly(%v, %d) failed %d of %d ops, want %d..%d", tc.p, seed, got, n, tc.lo, tc.hi)
		}
	}
	a := fails(errorfs.Randomly(0.5, seed), anyOp, 200)
	b := fails(errorfs.Randomly(0.5, seed), anyOp, 200)
	c := fails(errorfs.Randomly(0.5, seed+1), anyOp, 200)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("Randomly(0.5, %d) differs from itself at op %d", seed, i)
		}
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Errorf("Randomly(0.5, %d) and Randomly(0.5, %d) failed the same 200 ops", seed, seed+1)
	}
}

func TestPathMatch_MaybeError(t *testing.T) {
	inj := errorfs.PathMatch("*.db", errorfs.Always())
	for _, tc := range []struct {
		op   errorfs.Op
		fail bool
	}{
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "main.db"}, true},
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "main.db-journal"}, false},
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "dir/main.db"}, false},
		{errorfs.Op{Kind: errorfs.OpRename, Path: "tmp", NewPath: "main.db"}, true},
		{errorfs.Op{Kind: errorfs.OpRename, Path: "main.db", NewPath: "old"}, true},
		{errorfs.Op{Kind: errorfs.OpRename, Path: "a", NewPath: "b"}, false},
	} {
		if got := inj.MaybeError(tc.op) != nil; got != tc.fail {
			t.Errorf(`PathMatch("*.db", Always()) on %v: failed %v, want %v`, tc.op, got, tc.fail)
		}
	}
	if err := errorfs.PathMatch("*.db", nil).MaybeError(errorfs.Op{Kind: errorfs.OpSync, Path: "x.db"}); err != nil {
		t.Errorf("PathMatch with a nil injector failed an op: %v", err)
	}
	// Only matching ops reach (and are counted by) the inner injector.
	counted := errorfs.PathMatch("a", errorfs.OnIndex(1))
	for i, p := range []string{"a", "b", "b", "a"} {
		err := counted.MaybeError(errorfs.Op{Kind: errorfs.OpStat, Path: p})
		if (err != nil) != (i == 3) {
			t.Errorf(`PathMatch("a", OnIndex(1)) on op %d (%s): err %v, want failure only on the second "a"`, i, p, err)
		}
	}
}

func TestPathMatch_MaybeError_badPattern(t *testing.T) {
	op := errorfs.Op{Kind: errorfs.OpStat, Path: "x"}
	err := errorfs.PathMatch("[", errorfs.Always()).MaybeError(op)
	var pe *fs.PathError
	if !errors.Is(err, path.ErrBadPattern) || !errors.As(err, &pe) || pe.Path != "x" || pe.Op != "stat" {
		t.Errorf(`PathMatch("[").MaybeError(stat x) = %v, want an *fs.PathError{stat x} wrapping path.ErrBadPattern`, err)
	}
}

func TestOnKinds_MaybeError(t *testing.T) {
	inj := errorfs.OnKinds(errorfs.Always(), errorfs.OpSync, errorfs.OpSyncDir)
	for _, k := range errorfs.Kinds() {
		want := k == errorfs.OpSync || k == errorfs.OpSyncDir
		if got := inj.MaybeError(errorfs.Op{Kind: k, Path: "f"}) != nil; got != want {
			t.Errorf("OnKinds(Always(), OpSync, OpSyncDir) on %v: failed %v, want %v", k, got, want)
		}
	}
	if errorfs.OnKinds(errorfs.Always()).MaybeError(anyOp) != nil {
		t.Error("OnKinds with no kinds failed an op")
	}
}

func TestWhen_MaybeError(t *testing.T) {
	inj := errorfs.When(func(op errorfs.Op) bool { return op.Kind.IsWrite() && op.Off >= 4096 }, errorfs.Always())
	for _, tc := range []struct {
		op   errorfs.Op
		fail bool
	}{
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "f", Off: 4096, Len: 1}, true},
		{errorfs.Op{Kind: errorfs.OpWrite, Path: "f", Off: 0, Len: 1}, false},
		{errorfs.Op{Kind: errorfs.OpRead, Path: "f", Off: 8192, Len: 1}, false},
	} {
		if got := inj.MaybeError(tc.op) != nil; got != tc.fail {
			t.Errorf("When(write at >= 4096) on %v: failed %v, want %v", tc.op, got, tc.fail)
		}
	}
}

func TestAnd_MaybeError(t *testing.T) {
	never := errorfs.InjectorFunc(func(errorfs.Op) error { return nil })
	errA, errB := errors.New("a"), errors.New("b")
	retA := errorfs.InjectorFunc(func(errorfs.Op) error { return errA })
	retB := errorfs.InjectorFunc(func(errorfs.Op) error { return errB })
	for _, tc := range []struct {
		name string
		inj  errorfs.Injector
		want error
	}{
		{"And()", errorfs.And(), nil},
		{"And(a)", errorfs.And(retA), errA},
		{"And(a, b)", errorfs.And(retA, retB), errB},
		{"And(a, never)", errorfs.And(retA, never), nil},
		{"And(never, a)", errorfs.And(never, retA), nil},
		{"And(a, nil)", errorfs.And(retA, nil), nil},
		{"Or()", errorfs.Or(), nil},
		{"Or(never, b)", errorfs.Or(never, retB), errB},
		{"Or(a, b)", errorfs.Or(retA, retB), errA},
		{"Or(never, nil)", errorfs.Or(never, nil), nil},
	} {
		if got := tc.inj.MaybeError(anyOp); got != tc.want {
			t.Errorf("%s.MaybeError = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAnd_MaybeError_shortCircuit(t *testing.T) {
	// Only writes reach OnIndex(1): the second write fails.
	inj := errorfs.And(errorfs.OnKinds(errorfs.Always(), errorfs.OpWrite), errorfs.OnIndex(1))
	kinds := []errorfs.OpKind{errorfs.OpRead, errorfs.OpWrite, errorfs.OpRead, errorfs.OpWrite, errorfs.OpWrite}
	for i, k := range kinds {
		err := inj.MaybeError(errorfs.Op{Kind: k, Path: "f"})
		if (err != nil) != (i == 3) {
			t.Errorf("op %d (%v): err %v, want failure only at op 3 (the second write)", i, k, err)
		}
	}
}

func TestOr_MaybeError_shortCircuit(t *testing.T) {
	// The second OnIndex(0) only sees ops the first let through, so each
	// fails one op: ops 0 and 1.
	inj := errorfs.Or(errorfs.OnIndex(0), errorfs.OnIndex(0))
	got := fails(inj, anyOp, 4)
	if !got[0] || !got[1] || got[2] || got[3] {
		t.Errorf("Or(OnIndex(0), OnIndex(0)) failed %v, want [true true false false]", got)
	}
}

func TestLatency_MaybeError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := errorfs.Latency(3*time.Second, nil).MaybeError(anyOp); err != nil {
			t.Errorf("Latency(3s, nil) = %v, want nil", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("Latency(3s, nil) took %v, want 3s", d)
		}
		start = time.Now()
		if err := errorfs.Latency(time.Second, errorfs.Always()).MaybeError(anyOp); err != vfs.ErrInjected {
			t.Errorf("Latency(1s, Always()) = %v, want vfs.ErrInjected", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Latency(1s, Always()) took %v, want 1s", d)
		}
		// Only syncs are slowed down.
		slowSync := errorfs.OnKinds(errorfs.Latency(time.Minute, nil), errorfs.OpSync)
		start = time.Now()
		slowSync.MaybeError(errorfs.Op{Kind: errorfs.OpWrite, Path: "f"})
		if d := time.Since(start); d != 0 {
			t.Errorf("OnKinds(Latency(1m), OpSync) delayed a write by %v", d)
		}
		slowSync.MaybeError(errorfs.Op{Kind: errorfs.OpSync, Path: "f"})
		if d := time.Since(start); d != time.Minute {
			t.Errorf("OnKinds(Latency(1m), OpSync) delayed a sync by %v, want 1m", d)
		}
	})
}

func TestRandomLatency_MaybeError(t *testing.T) {
	seed := testSeed(t)
	delays := func(seed int64) []time.Duration {
		var ds []time.Duration
		synctest.Test(t, func(t *testing.T) {
			inj := errorfs.RandomLatency(time.Second, seed, nil)
			for range 50 {
				start := time.Now()
				if err := inj.MaybeError(anyOp); err != nil {
					t.Errorf("RandomLatency(1s, %d, nil) = %v, want nil", seed, err)
				}
				ds = append(ds, time.Since(start))
			}
		})
		return ds
	}
	a, b := delays(seed), delays(seed)
	distinct := map[time.Duration]bool{}
	for i := range a {
		if a[i] < 0 || a[i] >= time.Second {
			t.Errorf("delay %d = %v, want within [0, 1s)", i, a[i])
		}
		if a[i] != b[i] {
			t.Errorf("delay %d differs between runs with seed %d: %v, %v", i, seed, a[i], b[i])
		}
		distinct[a[i]] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct delays in 50, want random ones", len(distinct))
	}
}

func TestToggle_MaybeError(t *testing.T) {
	tg := errorfs.NewToggle(errorfs.OnIndex(0))
	if tg.Armed() {
		t.Fatal("NewToggle is armed, want disarmed")
	}
	if got := fails(tg, anyOp, 3); countTrue(got) != 0 {
		t.Errorf("disarmed Toggle failed ops %v", got)
	}
	tg.Arm()
	// The ops made while disarmed did not reach OnIndex(0).
	if got := fails(tg, anyOp, 3); !got[0] || got[1] || got[2] {
		t.Errorf("armed Toggle(OnIndex(0)) failed %v, want [true false false]", got)
	}
	tg.Disarm()
	if tg.Armed() {
		t.Error("Armed() after Disarm = true")
	}
	if errorfs.NewToggle(nil).MaybeError(anyOp) != nil {
		t.Error("Toggle(nil) failed an op")
	}
}
