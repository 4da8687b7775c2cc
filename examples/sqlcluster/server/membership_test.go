package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe_leaveOnExit: a node started with -leave that gets SIGTERM —
// here the writer — hands its role over, leaves the cluster, exits 0 and
// forgets its Raft state; the others keep serving writes as a two-member
// cluster.
func TestServe_leaveOnExit(t *testing.T) {
	c := newProcCluster(t)
	n1 := c.add("n1", "-leave")
	n2, n3 := c.add("n2"), c.add("n3")
	c.start(n1, "")
	c.start(n2, n1.url())
	c.start(n3, n1.url())
	all := []*proc{n1, n2, n3}
	c.waitMembers(n2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.post(ctx, n2, "/db/execute", "CREATE TABLE kv(k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.writer(1, all...)
	if w != n1 {
		t.Fatalf("writer %s, want the bootstrapping n1", w.id)
	}
	c.terminate(n1)
	if _, err := os.Stat(filepath.Join(n1.data, "raft")); !os.IsNotExist(err) {
		t.Fatalf("n1's Raft state after leaving: %v", err)
	}
	rest := []*proc{n2, n3}
	c.waitFor(30*time.Second, "n1 gone from the membership", func() error {
		ids, err := c.nodeIDs(n2)
		if err == nil && (len(ids) != 2 || ids[0] != "n2" || ids[1] != "n3") {
			err = fmt.Errorf("members %v", ids)
		}
		return err
	})
	w2, _ := c.writer(2, rest...)
	ack := acked{}
	for i := range 5 {
		c.write(rest, i, fmt.Sprintf("after-leave-%d", i), ack)
	}
	c.checkAcked(w2, "linearizable", ack)
}

// TestServe_killedDuringFirstJoin: Raft state without the member marker
// (a node killed during its first join) is discarded at start, and the
// node joins afresh instead of restarting as a member it never became.
func TestServe_killedDuringFirstJoin(t *testing.T) {
	c := newProcCluster(t)
	n1, n2 := c.add("n1"), c.add("n2")
	c.start(n1, "")
	// What a kill in the middle of n2's first join leaves: a Raft
	// database, no marker.
	if err := os.MkdirAll(filepath.Join(n2.data, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n2.data, "raft", "raft.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.start(n2, n1.url())
	c.waitMembers(n1, 2)
	if _, err := os.Stat(filepath.Join(n2.data, "member")); err != nil {
		t.Fatalf("member marker after joining: %v", err)
	}
	// Restarted now, it is a member: no join needed.
	c.terminate(n2)
	c.start(n2, "")
	c.writer(1, n1, n2)
}

// TestServe_removedRestarts: a member stopped, removed by the operator,
// and restarted with its old -data learns that it was removed: without
// -join it exits 1 saying so (instead of claiming to be a member and
// staying unready forever); with -join it discards its Raft state and
// joins again as a new member, ready and serving.
func TestServe_removedRestarts(t *testing.T) {
	c := newProcCluster(t)
	n1, n2, n3 := c.add("n1"), c.add("n2"), c.add("n3")
	c.start(n1, "")
	c.start(n2, n1.url())
	c.start(n3, n1.url())
	c.waitMembers(n1, 3)
	c.terminate(n3)
	req, err := http.NewRequest(http.MethodDelete, n1.url()+"/remove", strings.NewReader(`{"id": "n3"}`))
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(30*time.Second, "n3 removed", func() error {
		req.Body = io.NopCloser(strings.NewReader(`{"id": "n3"}`))
		resp, err := c.client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("remove: %s %s", resp.Status, b)
		}
		return nil
	})

	// Restarted without -join: a clear refusal.
	before := fileSize(t, n3.logPath)
	c.launch(n3, "")
	select {
	case <-n3.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("removed n3 restarted without -join is still running after 60s")
	}
	if code := n3.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("removed n3 exited with %d, want 1", code)
	}
	log, err := os.ReadFile(n3.logPath)
	if err != nil {
		t.Fatal(err)
	}
	log = log[before:]
	if !strings.Contains(string(log), "removed from the cluster") || strings.Contains(string(log), "sqlcluster: ready") {
		t.Fatalf("n3's log does not say it was removed (or says ready):\n%s", log)
	}

	// Restarted with -join: a new member again.
	c.start(n3, n1.url())
	c.waitFor(30*time.Second, "n3 a member again", func() error {
		ids, err := c.nodeIDs(n1)
		if err == nil && (len(ids) != 3 || ids[2] != "n3") {
			err = fmt.Errorf("members %v", ids)
		}
		return err
	})
	all := []*proc{n1, n2, n3}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.post(ctx, n3, "/db/execute", "CREATE TABLE kv(k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.writer(1, all...)
	ack := acked{}
	for i := range 3 {
		c.write(all, i, fmt.Sprintf("after-rejoin-%d", i), ack)
	}
	c.checkAcked(w, "linearizable", ack)
	c.checkAcked(n3, "linearizable", ack)
}
