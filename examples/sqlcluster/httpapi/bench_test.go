package httpapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// BenchmarkServer_Execute compares a one-row insert applied directly on
// the backend (the baseline), over HTTP, and over HTTP through a
// forwarding follower.
func BenchmarkServer_Execute(b *testing.B) {
	setup := func(b *testing.B) (*testServer, *Standalone) {
		ts, l := newStandaloneServer(b)
		ts.mustOK(b, "POST", "/db/execute", `["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]`)
		return ts, l
	}
	body := `[["INSERT INTO t(v) VALUES(?)", "hello"]]`
	post := func(b *testing.B, c *http.Client, u string) { postOK(b, c, u+"/db/execute", body) }
	b.Run("backend", func(b *testing.B) {
		_, l := setup(b)
		req := sqlnode.Request{Statements: []sqlnode.Statement{{SQL: "INSERT INTO t(v) VALUES(?)", Params: []sqlnode.Param{{Value: "hello"}}}}}
		for b.Loop() {
			if _, err := l.Execute(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		ts, _ := setup(b)
		t0 := cpuTime()
		defer func() { b.ReportMetric(float64((cpuTime()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			post(b, ts.Client(), ts.URL)
		}
	})
	b.Run("forwarded", func(b *testing.B) {
		ts, _ := setup(b)
		fs := startServer(b, newFollower(newTestStandalone(b, "node2"), ts.URL), Config{})
		for b.Loop() {
			post(b, fs.Client(), fs.URL)
		}
	})
}

// BenchmarkServer_Query measures a point read over HTTP at level=none.
func BenchmarkServer_Query(b *testing.B) {
	ts, _ := newStandaloneServer(b)
	ts.mustOK(b, "POST", "/db/execute", `["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]`)
	ts.mustOK(b, "POST", "/db/execute", `[["INSERT INTO t(v) VALUES(?)", "hello"]]`)
	body := `[["SELECT v FROM t WHERE id = ?", 1]]`
	t0 := cpuTime()
	defer func() { b.ReportMetric(float64((cpuTime()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		postOK(b, ts.Client(), ts.URL+"/db/query?level=none", body)
	}
}

// postOK posts body to u and fails unless the answer is 200.
func postOK(b *testing.B, c *http.Client, u, body string) {
	resp, err := c.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatal(resp.Status)
	}
}

// cpuTime is the process's CPU time (user + system): a machine shared
// with other work disturbs it less than the elapsed time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
