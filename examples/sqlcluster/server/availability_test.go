package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	availLoad      = flag.Duration("availability", 0, "run TestServe_availability: 16 writers for this long, then -failovers failovers (a measurement run by hand, not part of the suite)")
	availFailovers = flag.Int("failovers", 10, "failovers that TestServe_availability measures")
	availWriters   = flag.Int("writers", 16, "concurrent writers of TestServe_availability")
	availArgs      = flag.String("serve-args", "", "TestServe_availability: more serve flags, space-separated (e.g. \"-raft-timeout 300ms -raft-leader-lease-timeout 300ms\")")
	availTrace     = flag.Bool("availability-trace", false, "TestServe_availability: debug logs, and the new writer's log after each failover")
)

// TestServe_availability measures, by hand, the availability of a
// three-process cluster on this machine (go test -run
// TestServe_availability -availability 60s ./examples/sqlcluster/server):
// -writers concurrent writers against the leader for -availability
// (serve's flags plus -serve-args),
// counting failed requests (any that is not a 200 with every result
// ok), and then -failovers SIGKILLs of the writer, each timed from the
// signal to the first write sent after it that a survivor acknowledges;
// the killed node restarts with its -data before the next one. It asserts
// nothing about the figures, which depend on the machine: it logs them.
func TestServe_availability(t *testing.T) {
	if *availLoad <= 0 {
		t.Skip("a measurement: run with -availability 60s")
	}
	c := newProcCluster(t)
	// Info, as an operator runs it: debug logging is load of its own.
	level := "info"
	if *availTrace {
		level = "debug"
	}
	args := append([]string{"-log-level", level}, strings.Fields(*availArgs)...)
	n1, n2, n3 := c.add("n1", args...), c.add("n2", args...), c.add("n3", args...)
	c.start(n1, "")
	c.start(n2, n1.url())
	c.start(n3, n1.url()+","+n2.url())
	all := []*proc{n1, n2, n3}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.post(ctx, n1, "/db/execute", "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *availWriters}}
	w0, e0 := c.writer(1, all...)

	// Load: every writer sends INSERTs to the leader, one at a time.
	var ok, failed atomic.Int64
	var errMu sync.Mutex
	errCounts := map[string]int{}
	deadline := time.Now().Add(*availLoad)
	var wg sync.WaitGroup
	for g := range *availWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				err := execOnce(client, w0, "INSERT INTO kv(k, v) VALUES(?, ?)", fmt.Sprintf("w%02d-%07d", g, i), "0123456789abcdef0123456789abcdef")
				if err == nil {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				errMu.Lock()
				errCounts[trimErr(err.Error())]++
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	w1, e1 := c.writer(e0, all...)
	t.Logf("load: %d writers for %v: %d writes acknowledged (%.0f/s), %d failed; writer %s epoch %d -> %s epoch %d",
		*availWriters, *availLoad, ok.Load(), float64(ok.Load())/availLoad.Seconds(), failed.Load(), w0.id, e0, w1.id, e1)
	for msg, n := range errCounts {
		t.Logf("  %d× %s", n, msg)
	}
	if failed.Load() > 0 || e1 != e0 {
		// What the nodes said about it: their warnings and errors, but
		// for the HTTP request lines, and each message once.
		for _, p := range all {
			b, _ := os.ReadFile(p.logPath)
			seen := map[string]bool{}
			for _, line := range strings.Split(string(b), "\n") {
				if !(strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") || strings.Contains(line, "raftcluster:")) ||
					strings.Contains(line, `msg="http request"`) {
					continue
				}
				key := line
				if i := strings.Index(line, "msg="); i >= 0 {
					key = line[i:min(len(line), i+60)]
				}
				if !seen[key] && len(seen) < 40 {
					seen[key] = true
					t.Logf("%s: %s", p.id, trimErr(line))
				}
			}
		}
	}

	// Failovers.
	var lat []time.Duration
	epoch := e1
	for round := range *availFailovers {
		w, e := c.writer(epoch, all...)
		survivors := others(all, w)
		var first atomic.Int64 // ns after the kill of the first acknowledged write sent after it
		var killedAt time.Time
		killed := make(chan struct{})
		stop := make(chan struct{})
		var pwg sync.WaitGroup
		for i, p := range survivors {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				<-killed
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					err := execOnce(client, p, "INSERT INTO kv(k, v) VALUES(?, ?)", fmt.Sprintf("f%02d-%d-%06d", round, i, k), "x")
					if err == nil {
						first.CompareAndSwap(0, int64(time.Since(killedAt)))
						return
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
		}
		c.signal(w, syscall.SIGKILL)
		killedAt = time.Now()
		close(killed)
		c.waitFor(30*time.Second, "a write acknowledged after the kill", func() error {
			if first.Load() == 0 {
				return fmt.Errorf("none yet")
			}
			return nil
		})
		close(stop)
		pwg.Wait()
		d := time.Duration(first.Load())
		lat = append(lat, d)
		_, epoch = c.writer(e+1, survivors...)
		if *availTrace {
			// Every survivor's Raft and raftcluster lines since the kill.
			for _, p := range survivors {
				b, _ := os.ReadFile(p.logPath)
				var lines []string
				for _, l := range strings.Split(string(b), "\n") {
					ts, ok := strings.CutPrefix(l, "time=")
					if !ok || len(ts) < 24 || !(strings.Contains(l, "logger=raft ") || strings.Contains(l, "raftcluster:")) {
						continue
					}
					if at, err := time.Parse(time.RFC3339Nano, ts[:strings.IndexByte(ts, ' ')]); err == nil && at.After(killedAt.Add(-time.Second)) {
						lines = append(lines, l)
					}
				}
				t.Logf("killed %s at %s; %s's log:\n%s", w.id, killedAt.Format("15:04:05.000"), p.id, strings.Join(lines[:min(len(lines), 80)], "\n"))
			}
		}
		t.Logf("failover %d: killed %s (epoch %d): first write acknowledged after %v; epoch now %d", round+1, w.id, e, d.Round(time.Millisecond), epoch)
		c.start(w, "")
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		t.Logf("failover (SIGKILL of the writer until a write is acknowledged), %d runs: p50 %v, p90 %v, max %v; all %v",
			len(lat), pct(lat, 0.5), pct(lat, 0.9), lat[len(lat)-1], roundAll(lat))
	}
}

// execOnce sends one statement to p's /db/execute: nil only for a 200
// whose results have no error.
func execOnce(client *http.Client, p *proc, sql string, args ...any) error {
	body, _ := json.Marshal([]any{append([]any{sql}, args...)})
	resp, err := client.Post(p.url()+"/db/execute", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	var out struct {
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	if out.Error != "" {
		return fmt.Errorf("error: %s", out.Error)
	}
	for _, r := range out.Results {
		if r.Error != "" {
			return fmt.Errorf("result: %s", r.Error)
		}
	}
	return nil
}

func trimErr(s string) string {
	if len(s) > 400 {
		return s[:400]
	}
	return s
}

func pct(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i].Round(time.Millisecond)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
