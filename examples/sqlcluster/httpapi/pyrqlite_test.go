package httpapi

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServer_pyrqlite drives the API with pyrqlite, rqlite's Python
// DB-API driver (written by others, in another language): writes,
// parameters, double-quoted strings, transactions, every read level,
// queued writes, backup and load (testdata/pyrqlite_client.py). .ci/run
// installs it with pip; where Python or pyrqlite is missing the test
// skips, saying so.
func TestServer_pyrqlite(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: skipping the pyrqlite client test")
	}
	if out, err := exec.Command(py, "-c", "import pyrqlite.dbapi2").CombinedOutput(); err != nil {
		t.Skipf("pyrqlite not installed (pip install pyrqlite): skipping: %s", strings.TrimSpace(string(out)))
	}
	ts, _ := newStandaloneServer(t)
	host, port, err := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/pyrqlite_client.py", host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("pyrqlite client: %v\n%s", err, out)
	}
	t.Logf("pyrqlite client: %s", strings.TrimSpace(string(out)))
}
