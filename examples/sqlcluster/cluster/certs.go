package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/holeycow/holeycow/stability"
)

// CA is a certificate authority minted in memory, for clusters whose
// members all live on this machine (the demo, tests, examples). Production
// deployments bring their own certificates.
//
// Concurrency: safe for concurrent use (it is immutable after NewCA).
type CA struct {
	ca *stability.CA
}

// NewCA mints a fresh CA valid for a day.
func NewCA() (*CA, error) {
	ca, err := stability.NewCA("holeycow sqlcluster CA")
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &CA{ca: ca}, nil
}

// Pool returns the CA's certificate pool.
func (ca *CA) Pool() *x509.CertPool { return ca.ca.Pool }

// TLSConfig mints a certificate for member id, valid as server and client
// for 127.0.0.1, ::1 and localhost and naming id for the stability layer
// (stability.NodeURI), and returns a config holding it with
// the CA in RootCAs and ClientCAs (mutual TLS, as raftcluster.NewTLSTransport
// wants).
func (ca *CA) TLSConfig(id string) (*tls.Config, error) {
	cert, err := ca.ca.NodeCert(id)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca.ca.Pool,
		ClientCAs:    ca.ca.Pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
