package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
type autoCA struct{ *stability.CA }

const (
	autoCAFile     = "ca.pem" // in SharedDir/cluster: CA certificate and key, mode 0600
	autoCAValidity = 10 * 365 * 24 * time.Hour
	// nodeValidity is that of the certificate a node mints at each start:
	// as long as the CA's (Issue caps it there), so that a node that stays
	// up for months keeps handshaking. It adds no exposure: whoever can
	// read ca.pem can mint certificates anyway.
	nodeValidity = autoCAValidity
)

// loadOrCreateAutoCA returns the CA in dir/ca.pem, creating it if absent.
// Concurrent creators agree: each writes a candidate and links it into
// place; the one link that succeeds wins and every node reads it back.
func loadOrCreateAutoCA(dir string) (*autoCA, error) {
	path := filepath.Join(dir, autoCAFile)
	if ca, err := readAutoCA(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	ca, err := stability.NewCAWithOptions("holeycow sqlcluster automatic CA", stability.CAOptions{Validity: autoCAValidity})
	if err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ca-*.pem") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(slices.Concat(certPEM, keyPEM)); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("server: CA: %w", err)
	}
	return readAutoCA(path)
}

// readAutoCA reads dir/ca.pem; an absent file is an error wrapping
// fs.ErrNotExist.
func readAutoCA(path string) (*autoCA, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ca, err := stability.LoadCA(data, data)
	if err != nil {
		return nil, fmt.Errorf("server: CA %s: %w", path, err)
	}
	return &autoCA{ca}, nil
}

// issue mints this node's certificate: CN and URI SAN name the node,
// usable as TLS server and client, for loopback and the given hosts (empty
// ones, from addresses without a host, are skipped).
func (ca *autoCA) issue(id string, hosts ...string) (*identity, error) {
	hosts = slices.DeleteFunc(slices.Clone(hosts), func(h string) bool { return h == "" })
	cert, err := ca.IssueWithOptions(id, []*url.URL{stability.NodeURI(id)},
		stability.IssueOptions{Hosts: hosts, Validity: nodeValidity})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return &identity{cert: cert, pool: ca.Pool}, nil
}
