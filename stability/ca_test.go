package stability_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
)

// caPEM returns ca's certificate and key in PEM; it fails t on error.
func caPEM(t testing.TB, ca *stability.CA) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// A CA written out and read back is the same CA: same certificate, same
// key (the same PEM again), and what the copy issues chains to the
// original's pool. Both may come from one file holding both blocks.
func TestLoadCA_roundTrip(t *testing.T) {
	orig, err := stability.NewCAWithOptions("round trip CA", stability.CAOptions{Validity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := caPEM(t, orig)
	for name, in := range map[string][2][]byte{
		"separate": {certPEM, keyPEM},
		"oneFile":  {slices.Concat(certPEM, keyPEM), slices.Concat(certPEM, keyPEM)},
		"keyFirst": {slices.Concat(keyPEM, certPEM), slices.Concat(keyPEM, certPEM)},
	} {
		t.Run(name, func(t *testing.T) {
			ca, err := stability.LoadCA(in[0], in[1])
			if err != nil {
				t.Fatal(err)
			}
			if !ca.Cert.Equal(orig.Cert) {
				t.Fatal("reloaded CA has another certificate")
			}
			c2, k2 := caPEM(t, ca)
			if !bytes.Equal(c2, certPEM) || !bytes.Equal(k2, keyPEM) {
				t.Fatal("reloaded CA writes other PEM")
			}
			cert, err := ca.NodeCert("n1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: orig.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatalf("certificate from the reloaded CA: %v", err)
			}
		})
	}
}

// A PKCS #8 key (as openssl writes) loads as well as SEC 1.
func TestLoadCA_pkcs8(t *testing.T) {
	orig, err := stability.NewCA("pkcs8 CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := caPEM(t, orig)
	b, _ := pem.Decode(keyPEM)
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := stability.LoadCA(certPEM, pemBlock("PRIVATE KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.NodeCert("n1"); err != nil {
		t.Fatal(err)
	}
}

// Bad input is refused with an error wrapping ErrConfig that says what is
// wrong, never a panic.
func TestLoadCA_bad(t *testing.T) {
	ca, err := stability.NewCA("bad CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := stability.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := caPEM(t, ca)
	otherCert, otherKey := caPEM(t, other)
	leaf, err := ca.NodeCert("n1")
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string // in the message
	}{
		{"empty", nil, nil, "CA certificate: want one PEM block, found 0"},
		{"notPEM", []byte("not PEM"), []byte("not PEM"), "found 0"},
		{"noKey", certPEM, certPEM, "CA key: want one PEM block, found 0"},
		{"noCert", keyPEM, keyPEM, "CA certificate: want one PEM block, found 0"},
		{"twoCerts", slices.Concat(certPEM, otherCert), keyPEM, "found 2"},
		{"twoKeys", certPEM, slices.Concat(keyPEM, otherKey), "found 2"},
		{"certGarbage", pemBlock("CERTIFICATE", []byte("junk")), keyPEM, "CA certificate: x509"},
		{"ecKeyGarbage", certPEM, pemBlock("EC PRIVATE KEY", []byte("junk")), "CA key: x509"},
		{"pkcs8Garbage", certPEM, pemBlock("PRIVATE KEY", []byte("junk")), "CA key: asn1"},
		{"ed25519Key", certPEM, pemBlock("PRIVATE KEY", edDER), "want ECDSA"},
		{"foreignKey", certPEM, otherKey, "does not match"},
		{"notCA", pemBlock("CERTIFICATE", leaf.Certificate[0]), pemBlock("EC PRIVATE KEY", leafKey), "not a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stability.LoadCA(tc.cert, tc.key)
			if !errors.Is(err, stability.ErrConfig) {
				t.Fatalf("LoadCA = %v, %v; want ErrConfig", got, err)
			}
			if !strings.HasPrefix(err.Error(), "stability: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A CA outside its validity period is refused, by LoadCA and Issue, with
// x509's expiry reason; certificates never outlast their CA.
func TestLoadCA_expired(t *testing.T) {
	future, err := stability.NewCA("minted now") // seen from 2000, not yet valid
	if err != nil {
		t.Fatal(err)
	}
	futureCert, futureKey := caPEM(t, future)
	synctest.Test(t, func(t *testing.T) {
		wantExpired := func(t *testing.T, what string, err error) {
			t.Helper()
			var inv x509.CertificateInvalidError
			if !errors.Is(err, stability.ErrConfig) || !errors.As(err, &inv) || inv.Reason != x509.Expired {
				t.Fatalf("%s: %v; want ErrConfig and x509.Expired", what, err)
			}
		}
		_, err := stability.LoadCA(futureCert, futureKey)
		wantExpired(t, "LoadCA of a CA not yet valid", err)

		ca, err := stability.NewCAWithOptions("short", stability.CAOptions{Validity: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.IssueWithOptions("n1", nil, stability.IssueOptions{Validity: 10 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if !cert.Leaf.NotAfter.Equal(ca.Cert.NotAfter) {
			t.Errorf("certificate valid to %v, past its CA's %v", cert.Leaf.NotAfter, ca.Cert.NotAfter)
		}
		certPEM, keyPEM := caPEM(t, ca)
		if _, err := stability.LoadCA(certPEM, keyPEM); err != nil {
			t.Fatalf("LoadCA of a valid CA: %v", err)
		}
		time.Sleep(time.Hour + time.Second) // logical time
		_, err = stability.LoadCA(certPEM, keyPEM)
		wantExpired(t, "LoadCA of an expired CA", err)
		_, err = ca.NodeCert("n1")
		wantExpired(t, "NodeCert from an expired CA", err)
	})
}

func TestNewCAWithOptions_validity(t *testing.T) {
	before := time.Now()
	ca, err := stability.NewCAWithOptions("ten years", stability.CAOptions{Validity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	lo, hi := before.Add(10*365*24*time.Hour-time.Second), after.Add(10*365*24*time.Hour+time.Second)
	if na := ca.Cert.NotAfter; na.Before(lo) || na.After(hi) {
		t.Errorf("NotAfter %v, want in [%v, %v]", na, lo, hi)
	}
	if !ca.Cert.NotBefore.Before(before) {
		t.Errorf("NotBefore %v not backdated before %v", ca.Cert.NotBefore, before)
	}
	day, err := stability.NewCA("a day")
	if err != nil {
		t.Fatal(err)
	}
	if d := day.Cert.NotAfter.Sub(after); d > 24*time.Hour || d < 24*time.Hour-time.Minute {
		t.Errorf("NewCA valid %v more, want a day", d)
	}
	if _, err := stability.NewCAWithOptions("negative", stability.CAOptions{Validity: -time.Hour}); !errors.Is(err, stability.ErrConfig) {
		t.Errorf("negative validity: %v, want ErrConfig", err)
	}
}

// Extra hosts land in the certificate's SANs, next to loopback and
// localhost, without duplicates; the certificate verifies for each.
func TestCA_IssueWithOptions_hosts(t *testing.T) {
	ca, err := stability.NewCAWithOptions("year", stability.CAOptions{Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"db.example", "10.0.0.7", "fe80::1%eth0", "127.0.0.1", "localhost", "db.example", "::1"}
	cert, err := ca.IssueWithOptions("n1", []*url.URL{stability.NodeURI("n1")},
		stability.IssueOptions{Hosts: hosts, Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if want := []string{"localhost", "db.example"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNSNames = %q, want %q", leaf.DNSNames, want)
	}
	wantIPs := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP("10.0.0.7"), net.ParseIP("fe80::1")}
	if !slices.EqualFunc(leaf.IPAddresses, wantIPs, net.IP.Equal) {
		t.Errorf("IPAddresses = %v, want %v", leaf.IPAddresses, wantIPs)
	}
	for _, h := range []string{"db.example", "10.0.0.7", "fe80::1", "127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: h, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if err := leaf.VerifyHostname("other.example"); err == nil {
		t.Error("certificate verifies for a host it was not issued for")
	}
	if id, err := stability.NodeID(leaf); err != nil || id != "n1" {
		t.Errorf("NodeID = %q, %v", id, err)
	}
	if d := time.Until(leaf.NotAfter); d > 30*24*time.Hour || d < 30*24*time.Hour-time.Minute {
		t.Errorf("certificate valid %v more, want 30 days", d)
	}
	for name, opts := range map[string]stability.IssueOptions{
		"emptyHost":        {Hosts: []string{"db.example", ""}},
		"negativeValidity": {Validity: -time.Second},
	} {
		if _, err := ca.IssueWithOptions("n1", nil, opts); !errors.Is(err, stability.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// Nodes whose certificates come from the original CA and from a copy
// reloaded from PEM talk mutual TLS (gRPC on 127.0.0.1) in both
// directions; a CA with the same name but another key is refused.
func TestLoadCA_mutualTLS(t *testing.T) {
	orig := stabilitytest.NewCA(t)
	certPEM, keyPEM := caPEM(t, orig.CA)
	loaded, err := stability.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := &stabilitytest.CA{CA: loaded}
	for _, tc := range []struct {
		name           string
		server, client *stabilitytest.CA
	}{
		{"reloadedClient", orig, reloaded},
		{"reloadedServer", reloaded, orig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.server, "c1", &countingHandler{}, nil)
			resp, err := preserveOnce(t, transport(t, tc.client, "w", tc.client, tc.client.Pool), stability.Peer{ID: "c1", Addr: addr}, "w")
			if err != nil || resp.Code != stability.CodeOK {
				t.Fatalf("%+v, %v", resp, err)
			}
		})
	}
	t.Run("sameNameOtherKey", func(t *testing.T) {
		impostor := stabilitytest.NewCA(t) // same name "holeycow test CA"
		addr := serve(t, reloaded, "c1", &countingHandler{}, nil)
		if _, err := preserveOnce(t, transport(t, impostor, "w", impostor, reloaded.Pool), stability.Peer{ID: "c1", Addr: addr}, "w"); err == nil {
			t.Fatal("client certificate from another CA accepted")
		}
	})
}
