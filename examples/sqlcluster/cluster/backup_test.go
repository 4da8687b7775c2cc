package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

func getOK(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// fileChecksum is the logical checksum of a SQLite database file.
func fileChecksum(t *testing.T, data []byte) sqlnode.Checksum {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := sqlnode.Open(sqlnode.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sum, err := n.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestBackupLoad_roundTrip: a backup taken through a follower while
// writes go on, loaded through a follower of a fresh cluster, yields the
// same checksum on every member of the fresh cluster.
func TestBackupLoad_roundTrip(t *testing.T) {
	c, h := startHTTPCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	w, err := c.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower string
	for _, n := range c.Nodes() {
		if n != w {
			follower = n.ID()
		}
	}
	if code, r := postJSON(t, h.addrOf(w.ID())+"/db/execute", []string{"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"}); code != http.StatusOK {
		t.Fatalf("create: %d %+v", code, r)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 10000 && !stop.Load(); i++ {
			body, _ := json.Marshal([]any{[]any{"INSERT INTO t(v) VALUES(?)", fmt.Sprintf("row %d", i)}})
			resp, err := http.Post(h.addrOf(w.ID())+"/db/execute", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			resp.Body.Close()
			writes.Add(1)
		}
	}()
	// Let some writes land, then back up while they go on.
	c.WaitFor(ctx, "writes", func() bool { return writes.Load() >= 20 })
	backup := getOK(t, h.addrOf(follower)+"/db/backup")
	stop.Store(true)
	wg.Wait()
	// After the writes: a dump, and a file to tell what it should load.
	dump := getOK(t, h.addrOf(follower)+"/db/backup?fmt=sql")
	want := map[string]sqlnode.Checksum{"file": fileChecksum(t, backup), "sql": fileChecksum(t, getOK(t, h.addrOf(follower)+"/db/backup"))}
	if want["file"].Sum == want["sql"].Sum {
		t.Logf("no write landed between the backup and the end of the load (%d writes)", writes.Load())
	}

	c2, h2 := startHTTPCluster(t, 2)
	w2, err := c2.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c2.Nodes() {
		if n != w2 {
			follower = n.ID()
		}
	}
	for name, data := range map[string][]byte{"file": backup, "sql": dump} {
		// A load replaces the database, so a 503 (no leader known during
		// an election, which a loaded machine brings) is sent again, as
		// an rqlite client would, until the test's deadline.
		var resp *http.Response
		var raw []byte
		for {
			resp, err = http.Post(h2.addrOf(follower)+"/db/load", "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || ctx.Err() != nil {
				break
			}
			t.Logf("%s: load answered 503, sending again: %s", name, raw)
			if _, err := c2.Leader(ctx); err != nil { // waits for one
				t.Fatal(err)
			}
			select { // and for the follower to hear of it
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: load via a follower: %d %s", name, resp.StatusCode, raw)
		}
		for _, n := range c2.Nodes() {
			got := fileChecksum(t, getOK(t, h2.addrOf(n.ID())+"/db/backup"))
			if got.Sum != want[name].Sum {
				t.Errorf("%s: %s: checksum %v after load, want %v", name, n.ID(), got, want[name])
			}
		}
	}
	t.Logf("%d writes during the backup", writes.Load())
}
