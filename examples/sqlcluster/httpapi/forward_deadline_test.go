package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServer_forward_answerOutlivesDeadline: a leader that began its
// answer before the forwarding node's deadline gets it to the client
// whole, even when the body ends after that deadline (the forwarding
// node's proxy cut it at the deadline: under load, a client of
// TestServer_forward_timeoutSaysWhatCommitted got "unexpected EOF"
// instead of the results the leader stopped early to send). A leader
// that has not begun by the deadline still gets 504.
func TestServer_forward_answerOutlivesDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The scenario needs the forwarding node's deadline to pass: it
		// is at most timeout after this request arrived.
		passed := time.NewTimer(timeout + 200*time.Millisecond)
		defer passed.Stop()
		if r.URL.Query().Get("late") != "" {
			<-passed.C // the answer begins after the deadline
			w.Write([]byte(`{"results":[]}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"results":[{"rows_affected":1},`))
		http.NewResponseController(w).Flush()
		<-passed.C // the rest comes after the deadline
		w.Write([]byte(`{"error":"httpapi: not executed: the request's timeout was near"}]}`))
	}))
	t.Cleanup(leader.Close)
	fs := startServer(t, newFollower(newTestStandalone(t, "n2"), leader.URL), Config{})
	body := fs.mustOK(t, "POST", "/db/execute?timeout=300ms", `["INSERT INTO t VALUES(1)","INSERT INTO t VALUES(2)"]`)
	if !strings.Contains(body, "not executed") || !strings.Contains(body, `"rows_affected":1`) {
		t.Fatalf("the leader's answer arrived cut or changed: %s", body)
	}
	code, body := fs.do(t, "POST", "/db/execute?timeout=300ms&late=1", `["INSERT INTO t VALUES(1)","INSERT INTO t VALUES(2)"]`)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "writes may have committed") {
		t.Fatalf("a leader answering after the deadline: %d %s", code, body)
	}
}
