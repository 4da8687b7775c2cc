package raftcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// BenchmarkNode_Apply measures a committed-and-applied Apply on a
// three-member cluster, over the in-memory transport and over mutual TLS on
// loopback.
func BenchmarkNode_Apply(b *testing.B) {
	cmd := make([]byte, 128)
	b.Run("transport=mem", func(b *testing.B) {
		c := clustertest.New(b, clustertest.Options{Nodes: 3})
		c.WaitFor("3 voters", 15*time.Second, func() bool { return votersOf(c.Leader()) == 3 })
		benchApply(b, c.Leader(), cmd)
	})
	b.Run("transport=tls", func(b *testing.B) {
		ca := newCA(b)
		var nodes []*raftcluster.Node
		b.Cleanup(func() {
			for _, n := range nodes {
				n.Shutdown()
			}
		})
		for i := range 3 {
			tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", ca.config(b, fmt.Sprint("n", i)), time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			n, err := raftcluster.New(raftcluster.Config{ID: fmt.Sprint("n", i), Transport: tr,
				Stores: clustertest.NewStores(), Timeouts: clustertest.TestTimeouts()})
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := nodes[0].Bootstrap(ctx); err != nil {
			b.Fatal(err)
		}
		if err := clustertest.Poll(10*time.Second, func() bool { return nodes[0].State().Writer == "n0" }); err != nil {
			b.Fatal(err)
		}
		for _, n := range nodes[1:] {
			if err := n.RequestJoin(ctx, nodes[0].RaftAddr()); err != nil {
				b.Fatal(err)
			}
		}
		if err := clustertest.Poll(15*time.Second, func() bool { return votersOf(nodes[0]) == 3 }); err != nil {
			b.Fatal(err)
		}
		benchApply(b, nodes[0], cmd)
	})
}

func benchApply(b *testing.B, l *raftcluster.Node, cmd []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.SetBytes(int64(len(cmd)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := l.Apply(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
