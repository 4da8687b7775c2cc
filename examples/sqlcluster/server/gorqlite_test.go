package server_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rqlite/gorqlite"
)

// TestServe_gorqlite drives a three-process cluster with gorqlite,
// unchanged: it connects to a follower, discovers the leader and peers
// through /status and /nodes, writes, reads at every consistency level,
// and follows the leader when the leader's process is killed.
func TestServe_gorqlite(t *testing.T) {
	c := newProcCluster(t)
	n1, n2, n3 := c.add("n1"), c.add("n2"), c.add("n3")
	c.start(n1, "")
	c.start(n2, n1.url())
	c.start(n3, n1.url())
	all := []*proc{n1, n2, n3}
	lead, _ := c.writer(1, all...)
	// Members join as non-voters; gorqlite's Peers lists voters.
	c.waitFor(30*time.Second, "three voters", func() error {
		ids, err := c.voterIDs(lead)
		if err == nil && len(ids) != 3 {
			err = fmt.Errorf("voters %v", ids)
		}
		return err
	})

	var via *proc
	for _, p := range all {
		if p != lead {
			via = p
			break
		}
	}
	conn, err := gorqlite.Open(via.url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leader, err := conn.Leader()
	if err != nil || leader != lead.http {
		t.Fatalf("Leader() = %q, %v; want %s", leader, err, lead.http)
	}
	peers, err := conn.Peers()
	if err != nil || len(peers) != 3 || peers[0] != lead.http {
		t.Fatalf("Peers() = %v, %v; want 3, leader %s first", peers, err, lead.http)
	}
	if _, err := conn.WriteOne("CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	want := 0
	insert := func(name string) {
		t.Helper()
		c.waitFor(30*time.Second, "gorqlite insert "+name, func() error {
			// Idempotent by name: a retry after an unknown outcome does
			// not insert twice.
			wr, err := conn.WriteOneParameterized(gorqlite.ParameterizedStatement{
				Query: "INSERT INTO foo(name) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM foo WHERE name = ?)", Arguments: []any{name, name}})
			if err != nil {
				return fmt.Errorf("%v (%+v)", err, wr)
			}
			return nil
		})
		want++
	}
	for i := range 5 {
		insert(fmt.Sprintf("before-%d", i))
	}
	count := func(level string) (int64, error) {
		cl, err := gorqlite.ParseConsistencyLevel(level)
		if err != nil {
			return 0, err
		}
		if err := conn.SetConsistencyLevel(cl); err != nil {
			return 0, err
		}
		qr, err := conn.QueryOne("SELECT count(*) FROM foo")
		if err != nil {
			return 0, err
		}
		if !qr.Next() {
			return 0, fmt.Errorf("no row")
		}
		var n int64
		return n, qr.Scan(&n)
	}
	for _, level := range []string{"none", "weak", "linearizable", "strong"} {
		c.waitFor(10*time.Second, "count at level "+level, func() error {
			n, err := count(level)
			if err != nil {
				return err
			}
			if n != int64(want) {
				return fmt.Errorf("level %s: count %d, want %d", level, n, want)
			}
			return nil
		})
	}

	// Kill the leader: gorqlite fails over to the other peers, which
	// forward to the new leader; Leader() then names it.
	c.signal(lead, syscall.SIGKILL)
	rest := others(all, lead)
	for i := range 5 {
		insert(fmt.Sprintf("after-%d", i))
	}
	newLead, _ := c.writer(2, rest...)
	c.waitFor(10*time.Second, "gorqlite sees the new leader", func() error {
		l, err := conn.Leader()
		if err != nil {
			return err
		}
		if l != newLead.http {
			return fmt.Errorf("Leader() = %s, want %s", l, newLead.http)
		}
		return nil
	})
	n, err := count("linearizable")
	if err != nil || n != int64(want) {
		t.Fatalf("after failover: count %d, %v; want %d", n, err, want)
	}
}
