package netstorage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkFailover_Default and BenchmarkFailover_LAN measure, on real
// time, how long a three-member cluster (stability over gRPC with mutual
// TLS on loopback, Raft in memory) needs from the writer's death until a
// new writer accepts a mutation of shared storage: 20 kills per run,
// reported as p50_ms and p99_ms. Run with -benchtime=1x.
func BenchmarkFailover_Default(b *testing.B) { benchFailover(b, raftcluster.DefaultTimeouts()) }
func BenchmarkFailover_LAN(b *testing.B)     { benchFailover(b, raftcluster.LANTimeouts()) }

func benchFailover(b *testing.B, tt raftcluster.Timeouts) {
	const kills = 20
	var all []time.Duration
	for range b.N {
		r := newRig(b, rigOptions{nodes: 3, seed: 1, timeouts: &tt, grpc: newGRPCNet(b)})
		r.apply(5)
		for k := range kills {
			w, epoch := r.c.Writer()
			start := time.Now()
			r.kill(w)
			all = append(all, r.waitMutation(start, epoch))
			b.Logf("kill %d (%s): %v", k, w, all[len(all)-1])
			r.restart(w)
			r.apply(2)
			r.settle("restart")
		}
		// No r.check: the probe writes are not in any engine's model.
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// waitMutation polls every millisecond until a member that is the writer
// of an epoch after epoch writes shared storage through its view, and
// returns how long that took since start.
func (r *rig) waitMutation(start time.Time, epoch uint64) time.Duration {
	r.t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < 30*time.Second {
		for _, n := range r.c.Live() {
			st := r.storage(n.ID())
			if st.WriterEpoch() <= epoch {
				continue
			}
			if err := vfs.WriteFile(st.View(), "probe", []byte(n.ID()), 0o644); err == nil {
				return time.Since(start)
			}
		}
		<-tick.C
	}
	r.t.Fatalf("no new writer accepted a mutation within 30s")
	return 0
}
