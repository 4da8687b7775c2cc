package stability

import (
	"math/bits"
	"sync"
	"time"
)

// Stats are a Coordinator's or Responder's counters, for export as metrics.
// Counters only grow.
type Stats struct {
	// Coordinator (writer side).
	Rounds        int64         // Stabilize calls that reached at least one copier
	RoundRegions  int64         // regions in those calls, in total
	Messages      int64         // PreserveRequests acknowledged (rounds and heartbeats)
	Heartbeats    int64         // of which heartbeats
	Excluded      int64         // copiers excluded after their lease lapsed
	Resets        int64         // reset handshakes completed (either side)
	RoundP50      time.Duration // Stabilize latency estimates (bucketed; ±10%)
	RoundP99      time.Duration
	StaleEpochGot int64 // refusals received because this writer's epoch was stale

	// Responder (copier side).
	Preserved          int64 // regions preserved
	LeaseLapses        int64 // times the lease lapsed and the view was invalidated
	StaleEpochRefusals int64 // requests refused for a stale epoch
}

// histogram is a log-bucketed latency histogram: 8 buckets per power of two
// of nanoseconds, so a quantile is within about 9% of the truth.
//
// Concurrency: guarded by mu.
type histogram struct {
	mu struct {
		sync.Mutex
		counts [64 * 8]int64
		n      int64
	}
}

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 1))
	e := bits.Len64(v) - 1 // 2^e <= v
	var sub uint64
	if e >= 3 {
		sub = (v >> (e - 3)) & 7
	} else {
		sub = (v << (3 - e)) & 7
	}
	return e*8 + int(sub)
}

// bucketUpper is the largest value that falls in bucket b (approximately).
func bucketUpper(b int) time.Duration {
	e, sub := b/8, uint64(b%8)
	if e < 3 {
		return time.Duration(((8 + sub + 1) << e) >> 3)
	}
	return time.Duration((8 + sub + 1) << (e - 3))
}

func (h *histogram) observe(d time.Duration) {
	h.mu.Lock()
	h.mu.counts[bucketOf(d)]++
	h.mu.n++
	h.mu.Unlock()
}

// quantile returns an upper estimate of the q-quantile (0 when empty).
func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.mu.n-1)) + 1
	var seen int64
	for b, c := range h.mu.counts {
		seen += c
		if seen >= rank {
			return bucketUpper(b)
		}
	}
	return bucketUpper(len(h.mu.counts) - 1)
}
