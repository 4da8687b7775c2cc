package cluster_test

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// BenchmarkHTTP_queuedVsSequential reports queued inserts/s ÷ sequential
// inserts/s through the leader of a 3-node cluster: n inserts one after
// the other, each acknowledged, then n queued ones and a ?queue&wait.
//
//	go test -run - -bench queuedVsSequential -benchtime 1x ./examples/sqlcluster/cluster
func BenchmarkHTTP_queuedVsSequential(b *testing.B) {
	const n = 300
	c, h := startHTTPCluster(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := c.Leader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	u := h.addrOf(l.ID()) + "/db/execute"
	if code, r := postJSON(b, u, []string{"CREATE TABLE t(v)"}); code != http.StatusOK {
		b.Fatalf("create: %d %+v", code, r)
	}
	insert := []any{[]any{"INSERT INTO t(v) VALUES(?)", 1}}
	var seq, queued time.Duration
	for range b.N {
		start := time.Now()
		for range n {
			if code, r := postJSON(b, u, insert); code != http.StatusOK {
				b.Fatalf("insert: %d %+v", code, r)
			}
		}
		seq += time.Since(start)
		start = time.Now()
		for range n {
			if code, r := postJSON(b, u+"?queue", insert); code != http.StatusOK {
				b.Fatalf("queued insert: %d %+v", code, r)
			}
		}
		if code, r := postJSON(b, u+"?queue&wait", insert); code != http.StatusOK {
			b.Fatalf("queue&wait: %d %+v", code, r)
		}
		queued += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/seq.Seconds(), "seq-inserts/s")
	b.ReportMetric(float64((n+1)*b.N)/queued.Seconds(), "queued-inserts/s")
	b.ReportMetric(seq.Seconds()/queued.Seconds()*float64(n+1)/float64(n), "queued/seq")
}
