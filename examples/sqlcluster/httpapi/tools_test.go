package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServer_debugVarsAndVersion(t *testing.T) {
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{Version: "v9.8.7"})
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	resp, err := http.Get(ts.URL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get(VersionHeader); got != "v9.8.7" {
		t.Errorf("%s: %q", VersionHeader, got)
	}
	var vars struct {
		Cmdline  []string           `json:"cmdline"`
		Memstats map[string]any     `json:"memstats"`
		Metrics  map[string]float64 `json:"metrics"`
		Version  string             `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	if len(vars.Cmdline) == 0 || vars.Memstats["Alloc"] == nil || vars.Version != "v9.8.7" {
		t.Errorf("vars: cmdline %v, memstats %d keys, version %q", vars.Cmdline, len(vars.Memstats), vars.Version)
	}
	key := `holeycow_http_requests_total{code="200",endpoint="/db/execute",method="POST"}`
	if vars.Metrics[key] != 1 {
		t.Errorf("%s = %v; metrics %d series", key, vars.Metrics[key], len(vars.Metrics))
	}
	body := ts.mustOK(t, "GET", "/status?pretty", "")
	var st struct {
		Build struct {
			Version string `json:"version"`
		} `json:"build"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Build.Version != "v9.8.7" || !strings.Contains(body, "\n    \"build\": {") {
		t.Errorf("/status?pretty has no build.version:\n%s", body)
	}
	code, _ := ts.do(t, "GET", "/no/such", "")
	if code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

// notReady is a Backend that is never ready.
type notReady struct{ *Standalone }

func (notReady) Ready(context.Context) error { return fmt.Errorf("%w: starting", ErrUnavailable) }

// TestServer_readyzLogs: requests are logged at Debug, and a 503 from
// /readyz (an answer, not a failure) too; other 5xx are errors.
func TestServer_readyzLogs(t *testing.T) {
	var buf syncBuffer
	ts := startServer(t, notReady{newTestStandalone(t, "node1")}, Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	for _, p := range []string{"/readyz", "/readyz?noleader", "/readyz?sync&timeout=1s"} {
		if code, body := ts.do(t, "GET", p, ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	ts.mustOK(t, "GET", "/status", "")
	if lines := buf.lines(); len(lines) != 1 || lines[0] != "" {
		t.Errorf("records at Info and above: %q", lines)
	}
	if code, _ := ts.do(t, "GET", "/readyz?timeout=x", ""); code != http.StatusBadRequest {
		t.Errorf("readyz?timeout=x: %d", code)
	}
}

func TestServer_readyzNoLeader(t *testing.T) {
	ts, _ := newStandaloneServer(t)
	if body := ts.mustOK(t, "GET", "/readyz?noleader", ""); strings.Contains(body, "leader") {
		t.Errorf("noleader: %q", body)
	}
	if body := ts.mustOK(t, "GET", "/readyz?sync", ""); !strings.Contains(body, "[+]leader ok") {
		t.Errorf("sync: %q", body)
	}
}
