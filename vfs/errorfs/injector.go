package errorfs

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// An Injector decides, for each operation, whether it fails.
//
// MaybeError returns nil to let op proceed, or the error op fails with. FS
// returns an error that is not already an *fs.PathError wrapped in one
// with op's kind and path. The injectors of this package return
// vfs.ErrInjected.
//
// A nil Injector never injects, wherever an Injector is accepted.
//
// Concurrency: FS calls MaybeError from every goroutine that uses it, so
// an Injector must be safe for concurrent use. All of this package's are.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc makes a function an Injector.
type InjectorFunc func(op Op) error

// MaybeError returns f(op).
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// maybe consults inj, which may be nil.
func maybe(inj Injector, op Op) error {
	if inj == nil {
		return nil
	}
	return inj.MaybeError(op)
}

// Always fails every op that reaches it with vfs.ErrInjected. Combine it
// with a filter: PathMatch("*.db", Always()).
func Always() Injector {
	return InjectorFunc(func(Op) error { return vfs.ErrInjected })
}

// OnIndex fails the i-th op that reaches it, counting from 0, and no other.
// The count is atomic, so with concurrent callers exactly one op fails,
// though which one depends on scheduling. A negative i never fails.
func OnIndex(i int) Injector {
	return &indexInjector{i: int64(i)}
}

type indexInjector struct {
	i int64
	n atomic.Int64 // ops seen so far
}

func (x *indexInjector) MaybeError(Op) error {
	if x.n.Add(1)-1 == x.i {
		return vfs.ErrInjected
	}
	return nil
}

// Randomly fails each op that reaches it with probability p, drawing from
// a generator seeded with seed: the same sequence of ops fails the same
// way on every run. p <= 0 (or NaN) never fails; p >= 1 always does.
func Randomly(p float64, seed int64) Injector {
	r := &randomInjector{p: p}
	r.mu.rng = rand.New(rand.NewPCG(uint64(seed), 0x686f6c6579636f77))
	return r
}

type randomInjector struct {
	p float64
	// mu serializes draws from the generator.
	mu struct {
		sync.Mutex
		rng *rand.Rand
	}
}

func (r *randomInjector) MaybeError(Op) error {
	if !(r.p > 0) { // also NaN
		return nil
	}
	r.mu.Lock()
	x := r.mu.rng.Float64()
	r.mu.Unlock()
	if x < r.p {
		return vfs.ErrInjected
	}
	return nil
}

// PathMatch passes to inj the ops whose Path, or NewPath for a rename,
// matches pattern by path.Match; other ops succeed without reaching inj.
// As in path.Match, '*' does not match '/': "*.db" matches "main.db" but
// not "dir/main.db".
//
// A malformed pattern fails every op with an error wrapping
// path.ErrBadPattern, so that the mistake cannot go unnoticed.
func PathMatch(pattern string, inj Injector) Injector {
	_, err := path.Match(pattern, "")
	if err != nil {
		err = fmt.Errorf("errorfs: PathMatch(%q): %w", pattern, err)
	}
	return InjectorFunc(func(op Op) error {
		if err != nil {
			return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
		}
		if ok, _ := path.Match(pattern, op.Path); ok {
			return maybe(inj, op)
		}
		if op.NewPath != "" {
			if ok, _ := path.Match(pattern, op.NewPath); ok {
				return maybe(inj, op)
			}
		}
		return nil
	})
}

// OnKinds passes to inj the ops of the given kinds; other ops succeed
// without reaching inj.
func OnKinds(inj Injector, kinds ...OpKind) Injector {
	kinds = slices.Clone(kinds)
	return InjectorFunc(func(op Op) error {
		if slices.Contains(kinds, op.Kind) {
			return maybe(inj, op)
		}
		return nil
	})
}

// When passes to inj the ops for which pred returns true; other ops
// succeed without reaching inj. For example,
// When(func(op Op) bool { return op.Kind.IsWrite() }, inj).
func When(pred func(Op) bool, inj Injector) Injector {
	return InjectorFunc(func(op Op) error {
		if pred(op) {
			return maybe(inj, op)
		}
		return nil
	})
}

// And fails an op when every one of injs fails it, and returns the last
// one's error. Like &&, it stops at the first injector that lets the op
// through: later ones do not see (or count) it. And() never fails.
func And(injs ...Injector) Injector {
	injs = slices.Clone(injs)
	return InjectorFunc(func(op Op) error {
		var err error
		for _, inj := range injs {
			if err = maybe(inj, op); err == nil {
				return nil
			}
		}
		return err
	})
}

// Or fails an op when any of injs fails it, and returns the first error.
// Like ||, it stops at the first injector that fails the op: later ones do
// not see (or count) it. Or() never fails.
func Or(injs ...Injector) Injector {
	injs = slices.Clone(injs)
	return InjectorFunc(func(op Op) error {
		for _, inj := range injs {
			if err := maybe(inj, op); err != nil {
				return err
			}
		}
		return nil
	})
}

// Latency delays every op that reaches it by d, then lets inj decide
// whether the op fails (a nil inj lets it through). Compose it like any
// injector: OnKinds(Latency(time.Millisecond, nil), OpSync) makes syncs
// slow. The delay is a time.Sleep, so in a testing/synctest bubble it
// advances the fake clock and costs no real time.
func Latency(d time.Duration, inj Injector) Injector {
	return InjectorFunc(func(op Op) error {
		if d > 0 {
			time.Sleep(d)
		}
		return maybe(inj, op)
	})
}

// RandomLatency delays every op that reaches it by a duration drawn
// uniformly from [0, upTo), from a generator seeded with seed, then lets
// inj decide whether the op fails. Random delays shake out interleavings
// that fixed ones hide.
func RandomLatency(upTo time.Duration, seed int64, inj Injector) Injector {
	var mu sync.Mutex // guards rng
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c6174656e6379))
	return InjectorFunc(func(op Op) error {
		if upTo > 0 {
			mu.Lock()
			d := time.Duration(rng.Int64N(int64(upTo)))
			mu.Unlock()
			time.Sleep(d)
		}
		return maybe(inj, op)
	})
}

// Toggle arms and disarms an injector at run time. Disarmed, it lets every
// op through without consulting its injector, so counting injectors such
// as OnIndex do not count those ops. A new Toggle is disarmed.
//
// Concurrency: all methods are safe for concurrent use. An op that races
// with Arm or Disarm sees the Toggle either armed or disarmed.
type Toggle struct {
	inj   Injector
	armed atomic.Bool
}

var _ Injector = (*Toggle)(nil)

// NewToggle returns a disarmed Toggle around inj.
func NewToggle(inj Injector) *Toggle { return &Toggle{inj: inj} }

// Arm makes the Toggle pass ops to its injector.
func (t *Toggle) Arm() { t.armed.Store(true) }

// Disarm makes the Toggle let every op through.
func (t *Toggle) Disarm() { t.armed.Store(false) }

// Armed reports whether the Toggle is armed.
func (t *Toggle) Armed() bool { return t.armed.Load() }

// MaybeError consults the injector if the Toggle is armed.
func (t *Toggle) MaybeError(op Op) error {
	if !t.armed.Load() {
		return nil
	}
	return maybe(t.inj, op)
}
