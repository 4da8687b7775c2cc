package server

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
		if !cas[i].Cert.Equal(cas[0].Cert) {
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

// The automatic CA lives in dir/ca.pem, readable by its owner only, and a
// restart reuses it unchanged; node certificates are fresh at each start,
// valid until the CA expires and for the hosts of the node's addresses.
func TestAutoCA_restart(t *testing.T) {
	dir := t.TempDir()
	first, err := loadOrCreateAutoCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, autoCAFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, perm)
	}
	if d := time.Until(first.Cert.NotAfter); d < autoCAValidity-time.Minute {
		t.Errorf("CA valid %v more, want %v", d, autoCAValidity)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("dir holds %v (%v), want only %s", entries, err, autoCAFile)
	}

	again, err := loadOrCreateAutoCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(first.Cert) {
		t.Fatal("restart minted another CA")
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, data) {
		t.Fatalf("restart changed %s (%v)", path, err)
	}
	a, err := first.issue("n1", "", "127.0.0.1", "node1.example")
	if err != nil {
		t.Fatal(err)
	}
	b, err := again.issue("n1")
	if err != nil {
		t.Fatal(err)
	}
	if a.cert.Leaf.SerialNumber.Cmp(b.cert.Leaf.SerialNumber) == 0 {
		t.Error("two starts got the same node certificate")
	}
	if _, err := b.cert.Leaf.Verify(x509.VerifyOptions{Roots: a.pool}); err != nil {
		t.Errorf("certificate after restart does not chain to the CA: %v", err)
	}
	if err := a.cert.Leaf.VerifyHostname("node1.example"); err != nil {
		t.Error(err)
	}
	if ca := first.Cert; a.cert.Leaf.NotAfter.After(ca.NotAfter) || ca.NotAfter.Sub(a.cert.Leaf.NotAfter) > time.Minute {
		t.Errorf("node certificate valid until %v, CA until %v", a.cert.Leaf.NotAfter, ca.NotAfter)
	}
}

// A damaged ca.pem stops the node with an error naming the file; it is
// not replaced (other nodes trust the CA it held).
func TestAutoCA_damaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, autoCAFile)
	if err := os.WriteFile(path, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadOrCreateAutoCA(dir)
	if !errors.Is(err, stability.ErrConfig) || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged CA: %v; want ErrConfig naming %s", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != "not PEM" {
		t.Fatal("damaged CA file was replaced")
	}
}
