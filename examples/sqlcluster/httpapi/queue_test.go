package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type queueAnswer struct {
	Results []struct {
		Error        string `json:"error"`
		RowsAffected int64  `json:"rows_affected"`
	} `json:"results"`
	SequenceNumber uint64 `json:"sequence_number"`
}

func queuedWrite(t *testing.T, ts *testServer, query, body string) queueAnswer {
	t.Helper()
	var a queueAnswer
	if err := json.Unmarshal([]byte(ts.mustOK(t, "POST", "/db/execute?"+query, body)), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServer_queue: queued writes answer at once with increasing sequence
// numbers and are executed as one batch (one log entry) when the batch is
// full; ?wait answers with the request's results once its batch applied;
// a failing request of a batch fails alone, logged and counted.
func TestServer_queue(t *testing.T) {
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{QueueBatchSize: 5, QueueTimeout: time.Minute})
	t.Cleanup(func() { ts.api.Close() })
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	before := l.node.AppliedIndex()
	var last uint64
	for i := range 4 {
		a := queuedWrite(t, ts, "queue", fmt.Sprintf(`[["INSERT INTO foo(name) VALUES(?)", "q%d"]]`, i))
		if len(a.Results) != 0 || a.SequenceNumber <= last {
			t.Fatalf("queued write %d: %+v (last sequence number %d)", i, a, last)
		}
		last = a.SequenceNumber
	}
	if got := l.node.AppliedIndex(); got != before {
		t.Fatalf("queued writes applied before their batch was full: index %d -> %d", before, got)
	}
	a := queuedWrite(t, ts, "queue&wait", `["INSERT INTO foo(name) VALUES(\"w\")"]`)
	if len(a.Results) != 1 || a.Results[0].RowsAffected != 1 || a.SequenceNumber <= last {
		t.Fatalf("queue&wait: %+v", a)
	}
	if got := l.node.AppliedIndex(); got != before+1 {
		t.Errorf("a batch of 5 queued writes took %d log entries, want 1", got-before)
	}
	if body := ts.mustOK(t, "GET", "/db/query?q=SELECT+count(*)+FROM+foo", ""); !strings.Contains(body, `"values":[[5]]`) {
		t.Errorf("rows after the batch: %s", body)
	}
	// A failing request in a batch: the others apply, it fails alone.
	for i := range 4 {
		queuedWrite(t, ts, "queue", fmt.Sprintf(`[["INSERT INTO foo(name) VALUES(?)", "r%d"]]`, i))
	}
	a = queuedWrite(t, ts, "queue&wait", `["INSERT INTO nosuchtable VALUES(1)"]`)
	if len(a.Results) != 1 || !strings.Contains(a.Results[0].Error, "no such table") {
		t.Fatalf("failing queued write: %+v", a)
	}
	if body := ts.mustOK(t, "GET", "/db/query?q=SELECT+count(*)+FROM+foo", ""); !strings.Contains(body, `"values":[[9]]`) {
		t.Errorf("rows after a batch with a failing request: %s", body)
	}
	if !strings.Contains(ts.mustOK(t, "GET", "/metrics", ""), "holeycow_http_queue_errors_total 1") {
		t.Error("/metrics lacks holeycow_http_queue_errors_total 1")
	}
	// What Prepare refuses is refused before the queue.
	if code, body := ts.do(t, "POST", "/db/execute?queue", `["BEGIN"]`); code != http.StatusBadRequest {
		t.Errorf("queued BEGIN: %d %s", code, body)
	}
}

// TestServer_queueTimeout: a batch that does not fill is executed after
// QueueTimeout; Close executes what is still queued.
func TestServer_queueTimeout(t *testing.T) {
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{QueueBatchSize: 100, QueueTimeout: 10 * time.Millisecond})
	ts.mustOK(t, "POST", "/db/execute", createFoo)
	a := queuedWrite(t, ts, "queue&wait", `["INSERT INTO foo(name) VALUES('a')"]`)
	if len(a.Results) != 1 || a.Results[0].Error != "" {
		t.Fatalf("queue&wait: %+v", a)
	}
	ts2 := startServer(t, l, Config{QueueBatchSize: 100, QueueTimeout: time.Hour})
	queuedWrite(t, ts2, "queue", `["INSERT INTO foo(name) VALUES('b')"]`)
	ts2.api.Close()
	if body := ts.mustOK(t, "GET", "/db/query?q=SELECT+count(*)+FROM+foo", ""); !strings.Contains(body, `"values":[[2]]`) {
		t.Errorf("rows after Close: %s", body)
	}
	if code, _ := ts2.do(t, "POST", "/db/execute?queue", `["INSERT INTO foo(name) VALUES('c')"]`); code != http.StatusServiceUnavailable {
		t.Errorf("queued write after Close: %d", code)
	}
	ts.api.Close()
}
