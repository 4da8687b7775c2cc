package raftcluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "holeycow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// config returns a mutual-TLS config for a member certificate valid for
// 127.0.0.1.
func (ca *testCA) config(t testing.TB, name string) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs: ca.pool, ClientCAs: ca.pool}
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
		n, err := raftcluster.New(raftcluster.Config{ID: fmt.Sprint("n", i), Transport: tr, Stores: raftcluster.NewMemStores(),
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
