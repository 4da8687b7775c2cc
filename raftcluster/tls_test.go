package raftcluster_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
	"github.com/holeycow/holeycow/stability"
)

// testCA mints the test's certificates (stability's CA).
type testCA struct {
	ca   *stability.CA
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	ca, err := stability.NewCAWithOptions("holeycow test CA", stability.CAOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca: ca, pool: ca.Pool}
}

// config returns a mutual-TLS config for the certificate of member name
// (stability.NodeURI), valid for loopback addresses.
func (ca *testCA) config(t testing.TB, name string) *tls.Config {
	return ca.issue(t, name, []*url.URL{stability.NodeURI(name)})
}

// appConfig returns a mutual-TLS config for a certificate of the same CA
// that names no member (an application's client certificate).
func (ca *testCA) appConfig(t testing.TB, name string) *tls.Config {
	return ca.issue(t, name, nil)
}

func (ca *testCA) issue(t testing.TB, cn string, uris []*url.URL) *tls.Config {
	cert, err := ca.ca.IssueWithOptions(cn, uris, stability.IssueOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool, ClientCAs: ca.pool}
}

func TestTLSTransport_cluster(t *testing.T) {
	ca := newCA(t)
	tt := clustertest.TestTimeouts()
	var nodes []*raftcluster.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			if err := n.Check(); err != nil {
				t.Error(err)
			}
			n.Shutdown()
		}
	})
	applied := make([]chan string, 3)
	for i := range 3 {
		tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", ca.config(t, fmt.Sprint("n", i)), time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan string, 16)
		applied[i] = ch
		n, err := raftcluster.New(raftcluster.Config{ID: fmt.Sprint("n", i), Transport: tr, Stores: clustertest.NewStores(),
			Timeouts: tt, Apply: func(_ uint64, cmd []byte) []byte { ch <- string(cmd); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	ctx := ctxT(t, 20*time.Second)
	if err := nodes[0].Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertest.Poll(10*time.Second, func() bool { return nodes[0].State().Writer == "n0" }); err != nil {
		t.Fatal(err)
	}
	// n2 joins through n1 once n1 has joined: the request is forwarded to
	// the leader over TLS.
	if err := nodes[1].RequestJoin(ctx, nodes[0].RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if err := clustertest.Poll(10*time.Second, func() bool { id, _ := nodes[1].Leader(); return id != "" }); err != nil {
		t.Fatal("n1 never heard from the leader")
	}
	if err := nodes[2].RequestJoin(ctx, nodes[1].RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodes[0].Apply(ctx, []byte("over-tls")); err != nil {
		t.Fatal(err)
	}
	for i, ch := range applied {
		select {
		case got := <-ch:
			if got != "over-tls" {
				t.Fatalf("n%d applied %q", i, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("n%d did not apply", i)
		}
	}

	// A peer with a certificate from another CA is refused.
	other := newCA(t)
	bad := other.config(t, "intruder")
	bad.RootCAs = ca.pool // trusts us, but we do not trust it
	c, err := tls.Dial("tcp", nodes[0].RaftAddr(), bad)
	if err == nil {
		// TLS 1.3 reports the client-certificate rejection on first read.
		c.Write([]byte{'F'})
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("handshake with an untrusted client certificate succeeded")
	}
}

func TestNewTLSTransport_badConfig(t *testing.T) {
	if _, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", &tls.Config{}, 0, nil); !errors.Is(err, raftcluster.ErrInvalidConfig) {
		t.Fatalf("no certificate: %v", err)
	}
	ca := newCA(t)
	conf := ca.config(t, "x")
	conf.ClientCAs = nil
	if _, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", conf, 0, nil); !errors.Is(err, raftcluster.ErrInvalidConfig) {
		t.Fatalf("no client CAs: %v", err)
	}
	if _, err := raftcluster.NewTLSTransport("127.0.0.1:0", "0.0.0.0:1", ca.config(t, "y"), 0, nil); !errors.Is(err, raftcluster.ErrInvalidConfig) {
		t.Fatalf("unroutable advertise: %v", err)
	}
}

// TestTLSTransport_identity: membership on the Raft port is bound to the
// certificate's identity. An application certificate of the cluster's CA
// that names no member cannot join; a member's certificate for x cannot
// join as y nor remove another member; and a member added by the operator
// at an address whose certificate names someone else receives nothing
// (the leader refuses its Raft connection). The operator (Join and Remove
// on the leader) can add and remove others.
func TestTLSTransport_identity(t *testing.T) {
	ca := newCA(t)
	tt := clustertest.TestTimeouts()
	var nodes []*raftcluster.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	start := func(id string, conf *tls.Config) (*raftcluster.Node, chan string) {
		t.Helper()
		tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", conf, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan string, 16)
		// MaxVoters 1: a alone is the quorum, so that a loaded machine
		// cannot cost it its leadership midway.
		n, err := raftcluster.New(raftcluster.Config{ID: id, Transport: tr, Stores: clustertest.NewStores(),
			Timeouts: tt, MaxVoters: 1, Apply: func(_ uint64, cmd []byte) []byte { ch <- string(cmd); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		return n, ch
	}
	ctx := ctxT(t, 30*time.Second)
	a, aApplied := start("a", ca.config(t, "a"))
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertest.Poll(10*time.Second, func() bool { return a.State().Writer == "a" }); err != nil {
		t.Fatal(err)
	}
	c, cApplied := start("c", ca.config(t, "c"))
	if err := c.RequestJoin(ctx, a.RaftAddr()); err != nil {
		t.Fatalf("c joins as c: %v", err)
	}

	fake, fakeApplied := start("fake", ca.appConfig(t, "some application"))
	if err := fake.RequestJoin(ctx, a.RaftAddr()); !errors.Is(err, raftcluster.ErrIdentity) {
		t.Fatalf("join with a certificate naming no member: %v, want ErrIdentity", err)
	}
	y, yApplied := start("y", ca.config(t, "x"))
	if err := y.RequestJoin(ctx, a.RaftAddr()); !errors.Is(err, raftcluster.ErrIdentity) {
		t.Fatalf("join as y with x's certificate: %v, want ErrIdentity", err)
	}
	if err := raftcluster.RequestRemove(ctx, y, a.RaftAddr(), "c"); !errors.Is(err, raftcluster.ErrIdentity) {
		t.Fatalf("removal of c with x's certificate: %v, want ErrIdentity", err)
	}
	// The operator adds member z at y's address, where x's certificate
	// answers: the entry commits, but nothing reaches that address.
	if err := a.Join(ctx, "z", y.RaftAddr(), ""); err != nil {
		t.Fatalf("operator join of z: %v", err)
	}
	if _, _, err := a.Apply(ctx, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan string{"a": aApplied, "c": cApplied} {
		select {
		case got := <-ch:
			if got != "secret" {
				t.Fatalf("%s applied %q", name, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not apply", name)
		}
	}
	select {
	case got := <-yApplied:
		t.Fatalf("the impostor at z's address applied %q", got)
	case got := <-fakeApplied:
		t.Fatalf("the application certificate's node applied %q", got)
	case <-time.After(2 * time.Second): // Raft heartbeats every ~30ms: plenty of attempts
	}
	if y.AppliedIndex() != 0 || fake.AppliedIndex() != 0 {
		t.Fatalf("impostors applied up to %d and %d", y.AppliedIndex(), fake.AppliedIndex())
	}
	st := a.State()
	for _, id := range []string{"fake", "y", "x"} {
		if _, ok := st.Member(id); ok {
			t.Errorf("%s became a member", id)
		}
	}
	// The operator removes others.
	for _, id := range []string{"z", "c"} {
		if err := a.Remove(ctx, id); err != nil {
			t.Fatalf("operator removes %s: %v", id, err)
		}
	}
	if _, ok := a.State().Member("c"); ok || len(a.State().Members) != 1 {
		t.Fatalf("members after removals: %+v", a.State().Members)
	}
}
