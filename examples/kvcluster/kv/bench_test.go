package kv_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/examples/kvcluster/kv"
)

// BenchmarkCluster_write measures acknowledged writes through a 3-node
// cluster: concurrent clients (4 per CPU), one put of a 100-byte value
// per write.
func BenchmarkCluster_write(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := kv.StartLocal(ctx, kv.Options{Nodes: 3})
	require.NoError(b, err)
	defer func() { require.NoError(b, c.Close()) }()
	val := make([]byte, 100)
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := fmt.Appendf(nil, "k%08d", seq.Add(1))
			if _, err := c.Write(ctx, kv.Put(k, val)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "writes/s")
}
