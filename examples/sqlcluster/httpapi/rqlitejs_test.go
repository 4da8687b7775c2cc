package httpapi

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServer_rqlitejs drives the API with rqlite-js, a JavaScript rqlite
// client written by others: writes, positional and named parameters,
// errors, transactions, reads at levels none, weak, strong and
// linearizable, raw responses, SQL and binary backup and load
// (testdata/rqlitejs/client.js). rqlite-js has no queued writes.
// .ci/run installs it with npm ci; where node or the module is missing
// the test skips, saying so.
func TestServer_rqlitejs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: skipping the rqlite-js client test")
	}
	if _, err := os.Stat("testdata/rqlitejs/node_modules/rqlite-js/package.json"); err != nil {
		t.Skip("rqlite-js not installed (npm ci --prefix examples/sqlcluster/httpapi/testdata/rqlitejs): skipping")
	}
	ts, _ := newStandaloneServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.js", ts.URL)
	cmd.Dir = "testdata/rqlitejs"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rqlite-js client: %v\n%s", err, out)
	}
	t.Logf("rqlite-js client: %s", strings.TrimSpace(string(out)))
}
