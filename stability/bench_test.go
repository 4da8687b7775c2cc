package stability_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// benchCluster is a writer and n joined copiers over loopback mutual TLS.
func benchCluster(b *testing.B, n int) *stability.Coordinator {
	b.Helper()
	ca := stabilitytest.NewCA(b)
	shared := vfs.NewMem()
	if err := vfs.WriteFile(shared, "a", make([]byte, 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	coord, err := stability.NewCoordinator(stability.Config{ID: "w", Transport: transport(b, ca, "w", ca, ca.Pool), Lease: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { coord.Close() })
	w, err := cow.NewWriter(shared, coord, cow.Options{})
	if err != nil {
		b.Fatal(err)
	}
	coord.SetWriter(w)
	wmux := &stability.Mux{}
	wmux.SetCoordinator(coord)
	wpeer := stability.Peer{ID: "w", Addr: serve(b, ca, "w", wmux, nil)}
	var peers []stability.Peer
	var resps []*stability.Responder
	for i := range n {
		id := fmt.Sprintf("c%d", i+1)
		v, err := cow.NewCopier(shared, cow.Options{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := stability.NewResponder(stability.ResponderConfig{ID: id, View: v, Transport: transport(b, ca, id, ca, ca.Pool), Lease: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		mux := &stability.Mux{}
		mux.SetResponder(r)
		peers = append(peers, stability.Peer{ID: id, Addr: serve(b, ca, id, mux, nil)})
		resps = append(resps, r)
	}
	if err := coord.SetCopiers(1, 1, peers); err != nil {
		b.Fatal(err)
	}
	for _, r := range resps {
		if err := r.Join(context.Background(), wpeer); err != nil {
			b.Fatal(err)
		}
	}
	return coord
}

// BenchmarkRound measures one stability round of one 4 KiB region on
// loopback TLS, and reports its p50 and p99 latency.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{1, 3, 7} {
		b.Run(fmt.Sprintf("copiers=%d", n), func(b *testing.B) {
			coord := benchCluster(b, n)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				r := cow.Region{Kind: cow.KindBlocks, Path: "a", Off: int64(i%256) * 4096, Len: 4096}
				i++
				start := time.Now()
				if err := coord.Stabilize(ctx, []cow.Region{r}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkRegionsBatched measures regions per second when each round
// carries a batch of regions, against the one-region rounds above.
func BenchmarkRegionsBatched(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("copiers=3/batch=%d", batch), func(b *testing.B) {
			coord := benchCluster(b, 3)
			ctx := context.Background()
			rs := make([]cow.Region, batch)
			i := 0
			for b.Loop() {
				for j := range rs {
					rs[j] = cow.Region{Kind: cow.KindBlocks, Path: "a", Off: int64(i%256) * 4096, Len: 4096}
					i++
				}
				if err := coord.Stabilize(ctx, rs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "regions/s")
		})
	}
}

// BenchmarkRoundParallel issues concurrent one-region Stabilize calls (one
// message per call and copier: the links do not merge rounds).
func BenchmarkRoundParallel(b *testing.B) {
	coord := benchCluster(b, 3)
	ctx := context.Background()
	before := coord.Stats()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := cow.Region{Kind: cow.KindBlocks, Path: "a", Off: int64(i%256) * 4096, Len: 4096}
			i++
			if err := coord.Stabilize(ctx, []cow.Region{r}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	after := coord.Stats()
	msgs := (after.Messages - after.Heartbeats) - (before.Messages - before.Heartbeats)
	b.ReportMetric(float64(after.Rounds-before.Rounds)/float64(max(msgs, 1))*3, "calls/msg")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
