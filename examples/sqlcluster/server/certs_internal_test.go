package server

import (
	"crypto/x509"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/stability"
)

// Nodes starting at once agree on one automatic CA, and the certificates
// they mint name them and chain to it.
func TestAutoCA_concurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	cas := make([]*autoCA, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); cas[i], errs[i] = loadOrCreateAutoCA(dir) }()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !cas[i].cert.Equal(cas[0].cert) {
			t.Fatalf("node %d got another CA", i)
		}
	}
	id, err := cas[3].issue("n7", "127.0.0.2", "db.example")
	if err != nil {
		t.Fatal(err)
	}
	got, err := stability.NodeID(id.cert.Leaf)
	if err != nil || got != "n7" {
		t.Fatalf("NodeID = %q, %v", got, err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := id.cert.Leaf.Verify(x509.VerifyOptions{Roots: id.pool, DNSName: "db.example", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for %v: %v", usage, err)
		}
	}
	if err := id.cert.Leaf.VerifyHostname("127.0.0.2"); err != nil {
		t.Error(err)
	}
}
