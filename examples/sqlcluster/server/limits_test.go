package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/server"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/connlimit/connlimittest"
)

// TestServe_limits runs one node with small limits (issue 16, items 8, 9
// and 12) and checks: the database and its directory are private; a read
// beyond -max-result-rows fails with 400; text that is not UTF-8 and
// integers beyond int64 are refused; floods of idle connections on the
// HTTP, Raft and stability ports are closed after their timeouts while the
// node keeps answering.
func TestServe_limits(t *testing.T) {
	c := newProcCluster(t)
	n1 := c.add("n1", "-http-idle-timeout", "300ms", "-http-read-header-timeout", "300ms", "-http-max-conns", "16",
		"-max-result-rows", "5", "-handshake-timeout", "300ms", "-raft-max-conns", "8", "-stability-max-conns", "8")
	n1.stab = freeAddr(t) // -stability-addr: a port of its own, flooded below
	c.start(n1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.post(ctx, n1, "/db/execute", "CREATE TABLE t(x)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 6) INSERT INTO t SELECT i FROM c"); err != nil {
		t.Fatal(err)
	}

	// Private files.
	dbDir := filepath.Join(c.shared, "db")
	for p, want := range map[string]os.FileMode{dbDir: 0o700, filepath.Join(dbDir, "main.db"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&0o077 != 0 || got&want != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}

	// Result limits, and values that would be stored changed.
	for _, tc := range []struct{ path, body, want string }{
		{"/db/query?q=" + url.QueryEscape("SELECT x FROM t"), "", "result too large"},
		{"/db/execute", "[[\"INSERT INTO t VALUES(?)\", \"a\xffb\"]]", "UTF-8"},
		{"/db/execute", `[["INSERT INTO t VALUES(?)", 18446744073709551615]]`, "64-bit range"},
	} {
		method, body := http.MethodGet, io.Reader(nil)
		if tc.body != "" {
			method, body = http.MethodPost, bytes.NewReader([]byte(tc.body))
		}
		req, _ := http.NewRequestWithContext(ctx, method, n1.url()+tc.path, body)
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %s %s", tc.path, resp.Status, b)
		}
	}
	if rs, err := c.post(ctx, n1, "/db/query", "SELECT count(*) FROM t"); err != nil || fmt.Sprint(rs[0].Values) != "[[6]]" {
		t.Fatalf("after the refusals: %v, %v", rs, err)
	}

	ready := func() {
		t.Helper()
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for range 3 {
			resp, err := cl.Get(n1.url() + "/readyz")
			if err != nil {
				t.Fatalf("during a flood: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("during a flood: %s", resp.Status)
			}
		}
	}
	connlimittest.Flood(t, n1.http, 48, true, 5*time.Second, ready)
	connlimittest.Flood(t, n1.raft, 24, false, 5*time.Second, ready)
	connlimittest.Flood(t, n1.stab, 24, false, 5*time.Second, ready)
	// The floods show in the metrics.
	resp, err := c.client.Get(n1.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range []string{"http", "raft"} {
		prefix := `holeycow_conns_evicted_total{listener="` + l + `"} `
		i := strings.Index(string(b), prefix)
		if i < 0 || strings.HasPrefix(string(b[i+len(prefix):]), "0\n") {
			t.Errorf("no evictions on %s in the metrics:\n%s", l, b)
		}
	}
	// Still a working node: a write goes through Raft and the log.
	if _, err := c.post(ctx, n1, "/db/execute", "INSERT INTO t VALUES(7)"); err != nil {
		t.Fatal(err)
	}
}

// TestParse_limits: the limit flags reach Config; their defaults are the
// packages' defaults; bad values are usage errors.
func TestParse_limits(t *testing.T) {
	dir := t.TempDir()
	base := []string{"-data", filepath.Join(dir, "d"), "-shared", filepath.Join(dir, "s")}
	c, err := server.Parse(base, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPConns.IdleTimeout != httpapi.DefaultIdleTimeout || c.HTTPConns.MaxConns != httpapi.DefaultMaxConns ||
		c.Requests.MaxResultRows != httpapi.DefaultMaxResultRows || c.RaftConns.MaxConns != raftcluster.DefaultMaxConns ||
		c.StabilityConns.MaxConcurrentStreams != stability.DefaultMaxConcurrentStreams {
		t.Errorf("defaults: %+v %+v %+v %+v", c.HTTPConns, c.Requests, c.RaftConns, c.StabilityConns)
	}
	c, err = server.Parse(append(base, "-http-read-timeout", "7s", "-http-max-conns", "-1", "-max-result-bytes", "100",
		"-max-statements", "9", "-handshake-timeout", "2s", "-raft-max-conns", "5", "-stability-max-conns", "6",
		"-stability-max-streams", "3", "-stability-idle-timeout", "-1s"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPConns.ReadTimeout != 7*time.Second || c.HTTPConns.MaxConns != -1 || c.Requests.MaxResultBytes != 100 ||
		c.Requests.MaxStatements != 9 || c.RaftConns != (raftcluster.TLSLimits{HandshakeTimeout: 2 * time.Second, MaxConns: 5}) ||
		c.StabilityConns != (stability.GRPCLimits{HandshakeTimeout: 2 * time.Second, MaxConns: 6, MaxConcurrentStreams: 3, IdleTimeout: -time.Second}) {
		t.Errorf("set: %+v %+v %+v %+v", c.HTTPConns, c.Requests, c.RaftConns, c.StabilityConns)
	}
	for _, bad := range [][]string{{"-handshake-timeout", "-1s"}, {"-stability-max-streams", "0"}, {"-max-statements", "x"}} {
		if _, err := server.Parse(append(base, bad...), &bytes.Buffer{}); !errors.Is(err, server.ErrUsage) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
