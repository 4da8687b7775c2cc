package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/holeycow/holeycow/stability"
)

// identity is this node's certificate and the cluster CA, for Raft and
// stability (mutual TLS) and HTTPS.
type identity struct {
	cert tls.Certificate
	pool *x509.CertPool
}

// raftTLS returns the mutual-TLS config raftcluster.NewTLSTransport wants.
func (id *identity) raftTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{id.cert}, RootCAs: id.pool, ClientCAs: id.pool, MinVersion: tls.VersionTLS13}
}

// loadIdentity reads -tls-cert, -tls-key and -tls-ca, and checks that the
// certificate names this node (stability's URI SAN holeycow://node/ID).
func loadIdentity(c *Config) (*identity, error) {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("server: -tls-cert/-tls-key: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("server: -tls-cert: %w", err)
	}
	cert.Leaf = leaf
	got, err := stability.NodeID(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: -tls-cert: %v", ErrIdentity, err)
	}
	if got != c.ID {
		return nil, fmt.Errorf("%w: -tls-cert names node %q, but -id is %q", ErrIdentity, got, c.ID)
	}
	caPEM, err := os.ReadFile(c.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("server: -tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("server: -tls-ca %s holds no PEM certificate", c.TLSCA)
	}
	return &identity{cert: cert, pool: pool}, nil
}

// autoCA is the per-cluster CA kept in the shared directory when no TLS
// flags are given (see doc.go, Security).
type autoCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

const autoCAFile = "ca.pem" // in SharedDir/cluster: CA certificate and key

// loadOrCreateAutoCA returns the CA in dir/ca.pem, creating it if absent.
// Concurrent creators agree: each writes a candidate and links it into
// place; the one link that succeeds wins and every node reads it back.
func loadOrCreateAutoCA(dir string) (*autoCA, error) {
	path := filepath.Join(dir, autoCAFile)
	if ca, err := readAutoCA(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return ca, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("server: CA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "holeycow sqlcluster automatic CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("server: CA certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
	tmp, err := os.CreateTemp(dir, ".ca-*.pem")
	if err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	return readAutoCA(path)
}

func readAutoCA(path string) (*autoCA, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ca := &autoCA{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			ca.cert, err = x509.ParseCertificate(b.Bytes)
		case "EC PRIVATE KEY":
			ca.key, err = x509.ParseECPrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("server: CA %s: %w", path, err)
		}
	}
	if ca.cert == nil || ca.key == nil {
		return nil, fmt.Errorf("server: CA %s: want a certificate and an EC private key", path)
	}
	return ca, nil
}

// issue mints this node's certificate: CN and URI SAN name the node,
// usable as TLS server and client, for loopback and the given hosts.
func (ca *autoCA) issue(id string, hosts ...string) (*identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		URIs:         []*url.URL{stability.NodeURI(id)},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("server: certificate for %s: %w", id, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &identity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}, nil
}
