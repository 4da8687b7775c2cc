package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

func TestServer_ServeHTTP_logs(t *testing.T) {
	var buf syncBuffer
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	ts.do(t, "GET", "/db/query?level=x&q=SELECT+1", "")
	lines := buf.lines()
	if len(lines) != 2 {
		t.Fatalf("%d log records: %q", len(lines), lines)
	}
	var recs []map[string]any
	for _, ln := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if recs[0]["level"] != "DEBUG" || recs[0]["path"] != "/db/execute" || recs[0]["status"] != float64(200) || recs[0]["method"] != "POST" {
		t.Errorf("record: %v", recs[0])
	}
	if recs[1]["level"] != "WARN" || recs[1]["status"] != float64(400) {
		t.Errorf("record: %v", recs[1])
	}
}

// panicky is a Backend whose Status panics.
type panicky struct{ *Standalone }

func (panicky) Status(context.Context) (Status, error) { panic("boom") }

func TestServer_ServeHTTP_recoversPanics(t *testing.T) {
	var buf syncBuffer
	ts := startServer(t, panicky{newTestStandalone(t, "node1")}, Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	code, body := ts.do(t, "GET", "/status", "")
	if code != http.StatusInternalServerError {
		t.Errorf("status %d %s", code, body)
	}
	errorOf(t, body)
	ts.mustOK(t, "GET", "/readyz", "") // still serving
	if !strings.Contains(strings.Join(buf.lines(), "\n"), "boom") {
		t.Error("the panic was not logged")
	}
}
