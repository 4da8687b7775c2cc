package stability

import (
	"errors"
	"testing"
	"time"

	"github.com/holeycow/holeycow/stability/internal/wire"
)

func TestCode_Err_sentinels(t *testing.T) {
	for c, want := range map[Code]error{CodeStaleEpoch: ErrStaleEpoch, CodeNotJoined: ErrNotJoined,
		CodeNotMember: ErrNotMember, CodeNotServing: ErrNotServing, CodeIdentity: ErrIdentity} {
		if err := c.Err("x"); !errors.Is(err, want) {
			t.Errorf("%v: %v does not wrap %v", c, err, want)
		}
	}
	if CodeOK.Err("") != nil || CodeFailed.Err("x") == nil {
		t.Error("ok/failed")
	}
}

// TestWireLimits: the enumerations end where package wire's bounds say.
func TestWireLimits(t *testing.T) {
	if codeLimit != wire.CodeLimit || frameLimit != wire.FrameLimit || FrameRequest != wire.FrameRequest {
		t.Fatalf("codes end at %d, frames at %d, request %d; wire says %d, %d, %d",
			codeLimit, frameLimit, FrameRequest, wire.CodeLimit, wire.FrameLimit, wire.FrameRequest)
	}
}

func TestHistogram_quantile(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty")
	}
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > 1.15*float64(c.want) {
			t.Errorf("q%v = %v, want within [%v, +15%%]", c.q, got, c.want)
		}
	}
}
