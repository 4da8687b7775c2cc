package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	c.waitFor(30*time.Second, "three members", func() error {
		ids, err := c.nodeIDs(n2)
		if err == nil && len(ids) != 3 {
			err = fmt.Errorf("members %v", ids)
		}
		return err
	})
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
	c.waitFor(30*time.Second, "two members", func() error {
		ids, err := c.nodeIDs(n1)
		if err == nil && len(ids) != 2 {
			err = fmt.Errorf("members %v", ids)
		}
		return err
	})
	if _, err := os.Stat(filepath.Join(n2.data, "member")); err != nil {
		t.Fatalf("member marker after joining: %v", err)
	}
	// Restarted now, it is a member: no join needed.
	c.terminate(n2)
	c.start(n2, "")
	c.writer(1, n1, n2)
}
