package server

import (
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability/connlimit"
	"github.com/prometheus/client_golang/prometheus"
)

// connCollector exports what the connection caps of the HTTP and Raft
// listeners did, read at each scrape: a flood shows as evictions.
//
// Concurrency: safe for concurrent use (the Stats it reads are).
type connCollector struct {
	http *connlimit.Listener
	raft *raftcluster.TLSTransport
}

var (
	dConnsOpen     = desc("conns_open", "Connections open on a listener.", "listener")
	dConnsEvicted  = desc("conns_evicted_total", "Idle or unauthenticated connections closed to stay under a listener's connection cap.", "listener")
	dConnsRejected = desc("conns_rejected_total", "New connections closed at a listener's connection cap, none being evictable.", "listener")
)

var _ prometheus.Collector = (*connCollector)(nil)

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dConnsOpen
	ch <- dConnsEvicted
	ch <- dConnsRejected
}

func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	emit := func(name string, open int, evicted, rejected uint64) {
		ch <- prometheus.MustNewConstMetric(dConnsOpen, prometheus.GaugeValue, float64(open), name)
		ch <- prometheus.MustNewConstMetric(dConnsEvicted, prometheus.CounterValue, float64(evicted), name)
		ch <- prometheus.MustNewConstMetric(dConnsRejected, prometheus.CounterValue, float64(rejected), name)
	}
	if c.http != nil {
		st := c.http.Stats()
		emit("http", st.Open, st.Evicted, st.Rejected)
	}
	if c.raft != nil {
		open, evicted, rejected := c.raft.ConnStats()
		emit("raft", open, evicted, rejected)
	}
}
