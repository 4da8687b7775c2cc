package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/stability"
)

// testPKI writes a CA and certificates for node IDs into dir, as an
// operator would bring them: the node named in the URI SAN
// holeycow://node/ID, usable as server and client on 127.0.0.1.
func testPKI(t *testing.T, dir string, ids ...string) (caFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	caFile = filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", der)
	for i, id := range ids {
		nk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		nt := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: id},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, URIs: []*url.URL{stability.NodeURI(id)}}
		nd, err := x509.CreateCertificate(rand.Reader, nt, ca, &nk.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, id+".pem"), "CERTIFICATE", nd)
		kd, _ := x509.MarshalECPrivateKey(nk)
		writePEM(t, filepath.Join(dir, id+".key"), "EC PRIVATE KEY", kd)
	}
	return caFile, pool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServe_tls runs two processes with operator-provided certificates:
// Raft and stability over mutual TLS with them, HTTPS with basic
// authentication, the join over HTTPS. A certificate that names another
// node is refused at start.
func TestServe_tls(t *testing.T) {
	c := newProcCluster(t)
	pki := t.TempDir()
	caFile, pool := testPKI(t, pki, "n1", "n2", "n3")
	auth := filepath.Join(pki, "users.json")
	if err := os.WriteFile(auth, []byte(`[{"username":"bob","password":"secret","perms":["all"]},
		{"username":"*","perms":["ready","status"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tlsArgs := func(id string) []string {
		return []string{"-tls-cert", filepath.Join(pki, id+".pem"), "-tls-key", filepath.Join(pki, id+".key"), "-tls-ca", caFile, "-auth", auth}
	}
	n1, n2 := c.add("n1", tlsArgs("n1")...), c.add("n2", tlsArgs("n2")...)
	n1.scheme, n2.scheme = "https", "https"
	c.start(n1, "")
	c.start(n2, n1.url())
	c.writer(1, n1, n2)

	write := func(p *proc, user, pass string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, p.url()+"/db/execute",
			strings.NewReader(`["CREATE TABLE IF NOT EXISTS t(v)", "INSERT INTO t VALUES(1)"]`))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := write(n2, "", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous write: %d, want 401", code)
	}
	if code := write(n2, "bob", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code := write(n2, "bob", "secret"); code != http.StatusOK {
		t.Errorf("write as bob through n2: %d, want 200", code)
	}
	// n2 joined with its certificate ("*" may not join); a client
	// without one may not.
	jreq, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, n1.url()+"/join",
		strings.NewReader(`{"id": "intruder", "addr": "127.0.0.1:1"}`))
	if resp, err := c.client.Do(jreq); err != nil {
		t.Error(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous join: %d, want 401", resp.StatusCode)
	}
	if _, err := http.Get(n1.url() + "/readyz"); err == nil {
		t.Errorf("a client without the CA accepted n1's certificate")
	}
	// n2's certificate may not join (nor remove) anyone but n2.
	n2cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "n2.pem"), filepath.Join(pki, "n2.key"))
	if err != nil {
		t.Fatal(err)
	}
	asN2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{n2cert}}}}
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/join", `{"id": "intruder", "addr": "127.0.0.1:1"}`},
		{http.MethodDelete, "/remove", `{"id": "n1"}`},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), r.method, n1.url()+r.path, strings.NewReader(r.body))
		if resp, err := asN2.Do(req); err != nil {
			t.Error(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with n2's certificate: %d, want 403", r.method, r.path, resp.StatusCode)
		}
	}
	// n3 joins with its certificate through the follower n2, which sends
	// it to the leader rather than forwarding it under its own name.
	n3 := c.add("n3", tlsArgs("n3")...)
	n3.scheme = "https"
	c.start(n3, n2.url())
	c.waitMembers(n1, 3)

	// SIGTERM: a graceful shutdown, exit status 0; the node restarts
	// from its -data as the same member.
	c.terminate(n2)
	c.start(n2, "")
	if code := write(n2, "bob", "secret"); code != http.StatusOK {
		t.Errorf("write as bob through the restarted n2: %d, want 200", code)
	}

	// A certificate naming n1 cannot serve as n4.
	cmd := exec.Command(c.bin, "serve", "-id", "n4", "-data", filepath.Join(c.dir, "d4"), "-shared", c.shared,
		"-raft-addr", freeAddr(t), "-http-addr", freeAddr(t), "-stability-addr", freeAddr(t),
		"-tls-cert", filepath.Join(pki, "n1.pem"), "-tls-key", filepath.Join(pki, "n1.key"), "-tls-ca", caFile)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `names node "n1", but -id is "n4"`) {
		t.Errorf("n4 with n1's certificate: %v\n%s", err, out)
	}
}
