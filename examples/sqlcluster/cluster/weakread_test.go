package cluster_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
)

// pauseFollower holds f's apply lock, so that it applies nothing, and if
// unready also withdraws its database from readers, as a copier reset or
// catch-up does. The returned function undoes both.
func pauseFollower(f *cluster.Node, unready bool) (resume func()) {
	return cluster.HoldApply(f, unready)
}

// TestLocal_weakRead_forwardsWhenBehind: a weak read on a follower that
// cannot apply the leader's commit index soon (its apply paused, or its
// database withdrawn while a copier resets) waited for it, up to the
// request's timeout. It is now forwarded to the leader, which answers with
// the write just acknowledged, well before the timeout; the follower has
// still not applied it.
func TestLocal_weakRead_forwardsWhenBehind(t *testing.T) {
	c, h := startHTTPCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	l, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, r := postJSON(t, h.addrOf(l.ID())+"/db/execute", []string{"CREATE TABLE t(v INTEGER)"}); code != http.StatusOK {
		t.Fatalf("create: %d %+v", code, r)
	}
	var f *cluster.Node
	for _, n := range c.Nodes() {
		if n != l {
			f = n
		}
	}
	for i, unready := range []bool{false, true} {
		v := i + 1
		// The follower has the table before it pauses.
		if err := f.Raft().WaitApplied(ctx, l.Raft().CommitIndex()); err != nil {
			t.Fatal(err)
		}
		resume := pauseFollower(f, unready)
		code, r := postJSON(t, h.addrOf(l.ID())+"/db/execute", []any{[]any{"INSERT INTO t(v) VALUES(?)", v}})
		if code != http.StatusOK || r.Results[0].Error != "" {
			resume()
			t.Fatalf("write: %d %+v", code, r)
		}
		q := url.Values{"q": {"SELECT max(v) FROM t"}, "level": {"weak"}, "timeout": {"10s"}}
		start := time.Now()
		resp, err := http.Get(h.addrOf(f.ID()) + "/db/query?" + q.Encode())
		if err != nil {
			resume()
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		behind := f.Raft().AppliedIndex() < l.Raft().CommitIndex() || !cluster.EngineReady(f)
		resume()
		var rr httpResult
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &rr) != nil || len(rr.Results) != 1 || len(rr.Results[0].Values) != 1 {
			t.Fatalf("unready %v: weak read via the paused follower: %d %s (after %v)", unready, resp.StatusCode, raw, took)
		}
		if got := int64(rr.Results[0].Values[0][0].(float64)); got != int64(v) {
			t.Errorf("unready %v: weak read via the paused follower saw %d, want the acknowledged %d", unready, got, v)
		}
		if !behind {
			t.Errorf("unready %v: the follower was not behind while it answered: not a test of forwarding", unready)
		}
		t.Logf("unready %v: answered in %v", unready, took)
	}
	verifyConverged(t, ctx, c)
}
