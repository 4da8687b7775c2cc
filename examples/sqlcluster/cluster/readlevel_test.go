package cluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
)

// httpCluster serves every member of c over HTTP; members forward to the
// leader's server.
type httpCluster struct {
	mu   sync.Mutex
	urls map[string]string
}

func (h *httpCluster) addrOf(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.urls[id]
}

func startHTTPCluster(t testing.TB, nodes int) (*localcluster.Cluster, *httpCluster) {
	t.Helper()
	h := &httpCluster{urls: map[string]string{}}
	c := startTest(t, localcluster.Options{Nodes: nodes, APIAddrOf: h.addrOf})
	for _, n := range c.Nodes() {
		srv, err := httpapi.New(httpapi.Config{Backend: n.Backend()})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() {
			hs.Close()
			srv.Close()
		})
		h.mu.Lock()
		h.urls[n.ID()] = hs.URL
		h.mu.Unlock()
	}
	return c, h
}

type httpResult struct {
	Results []struct {
		Values [][]any `json:"values"`
		Error  string  `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func postJSON(t testing.TB, u string, body any) (int, httpResult) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r httpResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v: body %s", u, err, raw)
	}
	return resp.StatusCode, r
}

// TestReadLevels_history: a write acknowledged through node A, then a read
// through node B, for every pair (A, B) and every level: weak, auto (all
// members are voters: weak), linearizable and strong reads must see it;
// a read at none must never see a write that was not acknowledged yet,
// and with freshness_strict it is served or refused as stale.
func TestReadLevels_history(t *testing.T) {
	c, h := startHTTPCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	if _, err := c.Writer(ctx); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID())
	}
	code, r := postJSON(t, h.addrOf(ids[0])+"/db/execute", []string{"CREATE TABLE t(v INTEGER)"})
	if code != http.StatusOK {
		t.Fatalf("create: %d %+v", code, r)
	}
	acked := int64(0)
	stale, unavailable := 0, 0
	for _, level := range []string{"weak", "", "auto", "linearizable", "strong", "none"} {
		for _, a := range ids {
			for _, b := range ids {
				for range 3 {
					v := acked + 1
					// An election on the loaded test machine may refuse a
					// write (503, not executed): try again, bounded.
					for try := 0; ; try++ {
						code, r := postJSON(t, h.addrOf(a)+"/db/execute", []any{[]any{"INSERT INTO t(v) VALUES(?)", v}})
						if code == http.StatusOK && r.Results[0].Error == "" {
							break
						}
						if code != http.StatusServiceUnavailable || try == 20 {
							t.Fatalf("write via %s: %d %+v", a, code, r)
						}
						unavailable++
						if _, err := c.Leader(ctx); err != nil {
							t.Fatal(err)
						}
					}
					acked = v
					q := url.Values{"q": {"SELECT max(v) FROM t"}}
					if level != "" {
						q.Set("level", level)
					}
					if level == "none" {
						q.Set("freshness", "1s")
						q.Set("freshness_strict", "")
					}
					var raw []byte
					var resp *http.Response
					for try := 0; ; try++ {
						var err error
						resp, err = http.Get(h.addrOf(b) + "/db/query?" + q.Encode())
						if err != nil {
							t.Fatal(err)
						}
						raw, _ = io.ReadAll(resp.Body)
						resp.Body.Close()
						// No answer is not a wrong answer: an election may
						// refuse a read above none; try again, bounded.
						if level == "none" || resp.StatusCode != http.StatusServiceUnavailable || try == 20 {
							break
						}
						unavailable++
						if _, err := c.Leader(ctx); err != nil {
							t.Fatal(err)
						}
					}
					if level == "none" && resp.StatusCode == http.StatusServiceUnavailable {
						stale++
						continue
					}
					var rr httpResult
					if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &rr) != nil || len(rr.Results) != 1 || len(rr.Results[0].Values) != 1 {
						t.Fatalf("read via %s at %q: %d %s", b, level, resp.StatusCode, raw)
					}
					got := int64(rr.Results[0].Values[0][0].(float64))
					what := fmt.Sprintf("level %q: write %d acked via %s, read via %s saw max %d", level, v, a, b, got)
					if got > v || (level != "none" && got != v) {
						t.Fatal(what)
					}
				}
			}
		}
	}
	t.Logf("%d writes; %d reads at none refused as stale; %d requests refused (503) and retried", acked, stale, unavailable)
	// A bound no follower can meet: followers refuse, the leader serves.
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		resp, err := http.Get(h.addrOf(id) + "/db/query?level=none&freshness=1ns&q=SELECT+1")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusServiceUnavailable
		if id == l.ID() {
			want = http.StatusOK
		}
		if resp.StatusCode != want || (want != http.StatusOK && !bytes.Contains(raw, []byte("stale read"))) {
			t.Errorf("freshness=1ns via %s (leader %s): %d %s", id, l.ID(), resp.StatusCode, raw)
		}
	}
	// readyz?sync: once it answers, the node applied what the leader had
	// committed before the request.
	for _, id := range ids {
		before := l.Raft().CommitIndex()
		resp, err := http.Get(h.addrOf(id) + "/readyz?sync&timeout=10s")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("readyz?sync via %s: %d", id, resp.StatusCode)
		}
		if n := c.Node(id); n.Raft().AppliedIndex() < before {
			t.Errorf("readyz?sync via %s answered with applied %d < the leader's earlier commit index %d", id, n.Raft().AppliedIndex(), before)
		}
	}
	// Queued writes through every node: followers forward them to the
	// leader's queue; ?wait answers once applied, and a weak read sees them.
	for _, id := range ids {
		code, r := postJSON(t, h.addrOf(id)+"/db/execute?queue&wait", []any{[]any{"INSERT INTO t(v) VALUES(?)", acked + 1}})
		if code != http.StatusOK || len(r.Results) != 1 || r.Results[0].Error != "" {
			t.Fatalf("queue&wait via %s: %d %+v", id, code, r)
		}
		acked++
		resp, err := http.Get(h.addrOf(id) + "/db/query?q=SELECT+max(v)+FROM+t")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(raw, []byte(fmt.Sprintf(`"values":[[%d]]`, acked))) {
			t.Errorf("weak read via %s after a queued write %d: %s", id, acked, raw)
		}
	}
	resp, err := http.Get(h.addrOf(ids[0]) + "/db/query?level=none&freshness=soon&q=SELECT+1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("freshness=soon: %d, want 400", resp.StatusCode)
	}
}
