package vfstest

import (
	"testing"
	"time"
)

// Seed returns the seed a randomized test should use and logs it, so that a
// failure can be replayed: flagValue, when it is not zero (each package
// registers its own -seed flag and passes it here), otherwise one from the
// clock.
func Seed(tb testing.TB, flagValue uint64) uint64 {
	tb.Helper()
	s := flagValue
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	tb.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}
