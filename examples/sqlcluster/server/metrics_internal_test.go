package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
)

// gather returns the collector's metrics as "name{label=value}" -> value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[key] = v
		}
	}
	return out
}

// TestCollector_applyFailing: while shared storage is full, the writer's
// metrics say that its apply fails, and why (storage-full: no hand-over).
func TestCollector_applyFailing(t *testing.T) {
	mem := vfs.NewMem()
	quota := errorfs.NewQuota(mem)
	to := clustertest.TestTimeouts()
	to.Heartbeat, to.Election, to.LeaderLease, to.WriterLease = 2*to.Heartbeat, 2*to.Election, 2*to.LeaderLease, 2*to.WriterLease
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: 3, Dir: t.TempDir(), MemRaft: true, Timeouts: to,
		Storage: localcluster.StorageInProcess, Shared: errorfs.WithErrors(mem, quota)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec := func(sql string) error {
		_, err := c.Execute(ctx, sqlnode.Request{Statements: []sqlnode.Statement{{SQL: sql}}})
		return err
	}
	if err := exec("CREATE TABLE t(v)"); err != nil {
		t.Fatal(err)
	}
	if err := exec("INSERT INTO t SELECT printf('%.300c', 'x') FROM generate_series(1, 100)"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := gather(t, &collector{node: w}); m["holeycow_apply_failing{kind=storage-full}"] != 0 {
		t.Fatalf("before: %v", m)
	} else if first, applied := m["holeycow_raft_first_index"], m["holeycow_raft_applied_index"]; first < 1 || first > applied {
		t.Fatalf("before: raft_first_index %v, applied %v", first, applied)
	}
	if err := quota.Fill(4 * cluster.PageSize); err != nil {
		t.Fatal(err)
	}
	octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
	w.Execute(octx, sqlnode.Request{Statements: []sqlnode.Statement{{SQL: "DELETE FROM t"}}})
	ocancel()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	var m map[string]float64
	for {
		m = gather(t, &collector{node: w})
		if m["holeycow_apply_consecutive_failures"] >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no failing apply in the metrics: %v", m)
		case <-tk.C:
		}
	}
	if m["holeycow_apply_failing{kind=storage-full}"] != 1 || m["holeycow_apply_failing{kind=io}"] != 0 ||
		m["holeycow_apply_failures_total"] < 1 || m["holeycow_apply_hand_overs_total"] != 0 {
		var lines []string
		for k, v := range m {
			if strings.Contains(k, "apply") {
				lines = append(lines, fmt.Sprintf("%s %v", k, v))
			}
		}
		t.Errorf("metrics while full:\n%s", strings.Join(lines, "\n"))
	}
	quota.SetLimit(0)
}
