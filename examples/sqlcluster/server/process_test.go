package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/server"
)

// acked records the keys whose insert was acknowledged.
type acked map[string]bool

// tryWrite inserts key k, trying the running nodes in turn from the i-th
// until one acknowledges or 30s pass (the insert is idempotent: INSERT OR
// IGNORE on the primary key, so a retry after an unknown outcome is
// safe). It is safe for concurrent use.
func (c *procCluster) tryWrite(running []*proc, i int, k string) error {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := i; ; n++ {
		p := running[n%len(running)]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.post(ctx, p, "/db/execute", []any{"INSERT OR IGNORE INTO kv(k) VALUES(?)", k})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("write %s: %v", k, err)
		}
		<-tick.C
	}
}

// write is tryWrite that records the acknowledged key, or fails the test.
func (c *procCluster) write(running []*proc, i int, k string, ack acked) {
	c.t.Helper()
	if err := c.tryWrite(running, i, k); err != nil {
		c.t.Fatal(err)
	}
	ack[k] = true
}

// checkAcked fails unless every acknowledged key is on p (level
// linearizable, or none after waiting for p to catch up).
func (c *procCluster) checkAcked(p *proc, level string, ack acked) {
	c.t.Helper()
	c.waitFor(20*time.Second, p.id+" has every acknowledged write at level "+level, func() error {
		got, err := c.keys(p, level)
		if err != nil {
			return err
		}
		var missing []string
		for k := range ack {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d acknowledged keys missing, e.g. %v", len(missing), missing[:min(5, len(missing))])
		}
		return nil
	})
}

// stopped reports whether the process is in the stopped state.
func stopped(p *proc) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'T' || s[i+2] == 't')
}

func readMutations(t *testing.T, path string, from int64) []server.Mutation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		t.Fatal(err)
	}
	ms, err := server.ReadMutations(f)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestServe_processes runs three "sqlcluster serve" processes on loopback
// sharing one -shared directory, with two ports each (HTTP; Raft, which
// carries the stability protocol too), and checks through the HTTP API: writes
// and reads on every node; SIGKILL of the writer (writes resume through
// another node, no acknowledged write lost); restart of the killed node
// with its -data (it rejoins and catches up to the same logical checksum);
// SIGSTOP of the next writer past its lease, then SIGCONT (it mutates no
// shared storage once the next epoch has begun, per its -mutation-log).
// It runs once per copier mode (-copier-mode replay, the paper's way, and
// refresh, whose copiers apply nothing as entries commit and re-base on
// shared storage instead): the kills, the restart and the fencing must
// hold in both.
func TestServe_processes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to see that a process is stopped")
	}
	for _, mode := range []string{"replay", "refresh"} {
		t.Run(mode, func(t *testing.T) { testProcesses(t, "-copier-mode", mode) })
	}
}

// testProcesses is TestServe_processes with extra flags for every node.
func testProcesses(t *testing.T, extra ...string) {
	c := newProcCluster(t)
	n1, n2, n3 := c.add("n1", extra...), c.add("n2", extra...), c.add("n3", extra...)
	c.start(n1, "")
	c.start(n2, n1.url())
	c.start(n3, n1.url()+","+n2.url())
	all := []*proc{n1, n2, n3}
	ack := acked{}
	// Two ports per node: each publishes its Raft port as its stability
	// address.
	for _, p := range all {
		b, err := os.ReadFile(filepath.Join(c.shared, "cluster", "members", p.id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Raft string `json:"raft_addr"`
			Stab string `json:"stability_addr"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Stab != p.raft || m.Raft != p.raft {
			t.Fatalf("%s publishes %s (%v): want the stability protocol on Raft port %s", p.id, b, err, p.raft)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.post(ctx, n2, "/db/execute", "CREATE TABLE kv(k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		c.write(all, i, fmt.Sprintf("a%02d", i), ack)
	}
	for _, p := range all {
		c.checkAcked(p, "linearizable", ack)
		c.checkAcked(p, "none", ack)
	}

	// SIGKILL the writer while four clients write: writes resume through
	// the others, and every acknowledged one survives.
	w1, e1 := c.writer(1, all...)
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		nacks   int
		killed  time.Time // set under mu
		resumed time.Duration
		killNow = make(chan struct{})
		errs    = make(chan error, 4)
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				k := fmt.Sprintf("b%d-%02d", g, i)
				mu.Lock()
				afterKill := !killed.IsZero()
				mu.Unlock()
				if err := c.tryWrite(all, g+i, k); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ack[k] = true
				nacks++
				if afterKill && resumed == 0 {
					resumed = time.Since(killed)
				}
				if nacks == 8 {
					close(killNow)
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-killNow:
	case <-time.After(30 * time.Second):
		t.Fatal("no 8 writes acknowledged within 30s")
	}
	mu.Lock()
	c.signal(w1, syscall.SIGKILL)
	killed = time.Now()
	mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	survivors := others(all, w1)
	w2, e2 := c.writer(e1+1, survivors...)
	if w2 == w1 || e2 <= e1 {
		t.Fatalf("after killing writer %s (epoch %d): writer %s epoch %d", w1.id, e1, w2.id, e2)
	}
	for _, p := range survivors {
		c.checkAcked(p, "linearizable", ack)
	}
	t.Logf("killed writer %s (epoch %d); new writer %s (epoch %d); first write sent after SIGKILL acknowledged %v after it",
		w1.id, e1, w2.id, e2, resumed.Round(time.Millisecond))

	// Restart the killed node with its -data: it rejoins as itself.
	c.start(w1, "")
	c.checkAcked(w1, "none", ack)
	for i := range 5 {
		c.write(all, i, fmt.Sprintf("r%02d", i), ack)
	}
	c.checkAcked(w1, "none", ack)
	if w, e := c.writer(e2, all...); w != w2 || e != e2 {
		t.Logf("writer moved to %s (epoch %d) while %s restarted", w.id, e, w1.id)
		w2, e2 = w, e
	}

	// SIGSTOP the writer past its lease; the others elect a new writer.
	// No write is in flight (this test writes one request at a time), so
	// this checks fencing, not the stalled-batch window raftcluster's doc
	// describes.
	before := readMutations(t, w2.mutLog, 0)
	wrote := 0
	for _, m := range before {
		if m.Op == "write" && m.Epoch == e2 {
			wrote++
		}
	}
	if wrote == 0 {
		t.Fatalf("%s's mutation log has no write of epoch %d (its writer term): %+v", w2.id, e2, before)
	}
	c.signal(w2, syscall.SIGSTOP)
	c.waitFor(5*time.Second, w2.id+" stopped", func() error {
		if !stopped(w2) {
			return fmt.Errorf("not stopped yet")
		}
		return nil
	})
	mark := fileSize(t, w2.mutLog)
	stoppedAt := time.Now()
	rest := others(all, w2)
	w3, e3 := c.writer(e2+1, rest...)
	if w3 == w2 || e3 <= e2 {
		t.Fatalf("after stopping writer %s (epoch %d): writer %s epoch %d", w2.id, e2, w3.id, e3)
	}
	for i := range 5 {
		c.write(rest, i, fmt.Sprintf("c%02d", i), ack)
		if i == 0 {
			t.Logf("stopped writer %s (epoch %d); writer %s (epoch %d) acknowledged a write %v after SIGSTOP",
				w2.id, e2, w3.id, e3, time.Since(stoppedAt).Round(time.Millisecond))
		}
	}
	c.signal(w2, syscall.SIGCONT)
	c.waitFor(20*time.Second, w2.id+" sees epoch "+fmt.Sprint(e3), func() error {
		s, err := c.status(w2)
		if err != nil {
			return err
		}
		if s.Holeycow.Epoch < e3 {
			return fmt.Errorf("epoch %d", s.Holeycow.Epoch)
		}
		return nil
	})
	for i := range 5 {
		c.write(all, i, fmt.Sprintf("d%02d", i), ack)
	}
	for _, p := range all {
		c.checkAcked(p, "none", ack)
	}
	for _, m := range readMutations(t, w2.mutLog, mark) {
		switch m.Op {
		case "write", "truncate", "remove", "removeall", "rename":
			t.Errorf("%s mutated shared storage after it was stopped and epoch %d began: %+v", w2.id, e3, m)
		}
	}

	// Every node ends with the same logical checksum at one index.
	ls, err := c.status(c.procs[w3.id])
	if err != nil {
		t.Fatal(err)
	}
	idx := ls.Holeycow.DBIndex
	sums := map[string]string{}
	for _, p := range all {
		c.waitFor(20*time.Second, p.id+" checksum", func() error {
			s, err := c.checksum(p, idx)
			sums[p.id] = s
			return err
		})
	}
	if sums[n1.id] != sums[n2.id] || sums[n2.id] != sums[n3.id] {
		t.Fatalf("checksums at index %d differ: %v", idx, sums)
	}
	// Metrics: the writer's stability rounds, every node's indices.
	wm, err := c.metrics(w3)
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{
		"holeycow_stability_rounds_total":  wm["holeycow_stability_rounds_total"] > 0,
		"holeycow_is_writer":               wm["holeycow_is_writer"] == 1,
		"holeycow_writer_changes_total":    wm["holeycow_writer_changes_total"] >= 2,
		"holeycow_raft_applied_index":      wm["holeycow_raft_applied_index"] >= float64(idx),
		"holeycow_http_requests_total":     true, // labelled: checked below
		"holeycow_replication_lag_entries": true,
		// Present (the value depends on the machine's load).
		"holeycow_writer_lease_guard_refusals_total": wm["holeycow_writer_lease_guard_refusals_total"] >= 0,
	} {
		if _, present := wm[name]; !ok || (!present && !strings.HasPrefix(name, "holeycow_http")) {
			t.Errorf("writer %s: metric %s = %v (present %v)", w3.id, name, wm[name], present)
		}
	}
	// The copier may still be reopening its database after its rejoin:
	// wait, with a deadline, until its metrics show it caught up.
	var cm map[string]float64
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		if cm, err = c.metrics(w2); err != nil {
			t.Fatal(err)
		}
		if cm["holeycow_db_applied_index"] >= float64(idx) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond): // poll interval, not a wait for a condition
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
	for _, name := range []string{"holeycow_overlay_bytes", "holeycow_stability_lease_lapses_total",
		"holeycow_exclusions_total", "holeycow_stability_messages_total", "holeycow_db_applied_index"} {
		if _, ok := cm[name]; !ok {
			t.Errorf("copier %s: no metric %s", w2.id, name)
		}
	}
	// The mode took effect: a refresh-mode copier refreshed (it applies
	// nothing as entries commit), a replay-mode one never does.
	refreshes, ok := cm["holeycow_copier_refreshes_total"]
	if refreshMode := slices.Contains(extra, "refresh"); !ok || (refreshes > 0) != refreshMode {
		t.Errorf("copier %s: holeycow_copier_refreshes_total = %v (present %v) with flags %v", w2.id, refreshes, ok, extra)
	}
	if cm["holeycow_is_writer"] != 0 || cm["holeycow_db_applied_index"] < float64(idx) {
		t.Errorf("copier %s: is_writer %v, db_applied_index %v (want >= %d)", w2.id, cm["holeycow_is_writer"], cm["holeycow_db_applied_index"], idx)
	}
	t.Logf("%d acknowledged writes; checksums at %d agree; writers %s(%d) -> %s(%d) -> %s(%d)",
		len(ack), idx, w1.id, e1, w2.id, e2, w3.id, e3)
}
