package stability

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/holeycow/holeycow/stability/internal/wire"
)

// Node identity in certificates: a node's certificate carries exactly one
// URI SAN of the form holeycow://node/<ID> (the ID path-escaped as net/url
// does). Both sides of every connection check the other's: the client that
// dials peer P accepts only a server certificate naming P.ID, and the
// server accepts only client certificates whose ID its Allow function
// admits. Certificates must chain to the cluster CA; TLS 1.3 is the
// minimum.
const (
	idScheme = "holeycow"
	idHost   = "node"
)

// NodeURI returns the URI SAN that names node id.
func NodeURI(id string) *url.URL {
	return &url.URL{Scheme: idScheme, Host: idHost, Path: "/" + id}
}

// NodeID returns the node ID a certificate names, or an error wrapping
// ErrIdentity if it names none or several.
func NodeID(cert *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range cert.URIs {
		if u.Scheme == idScheme && u.Host == idHost && len(u.Path) > 1 {
			ids = append(ids, u.Path[1:])
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("%w: certificate %q names %d node IDs", ErrIdentity, cert.Subject.CommonName, len(ids))
	}
	if err := wire.ValidID(ids[0]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return ids[0], nil
}

// verifyPeer checks a peer's chain against ca for usage and returns its ID.
func verifyPeer(certs []*x509.Certificate, ca *x509.CertPool, usage x509.ExtKeyUsage) (string, error) {
	if len(certs) == 0 {
		return "", fmt.Errorf("%w: no peer certificate", ErrIdentity)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: ca, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return NodeID(certs[0])
}

// ServerTLS returns the server side configuration: TLS 1.3, a client
// certificate chaining to ca required, and its node ID admitted by allow
// (nil admits any node the CA vouches for).
func ServerTLS(cert tls.Certificate, ca *x509.CertPool, allow func(id string) bool) (*tls.Config, error) {
	if ca == nil || len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: certificate and CA required", ErrConfig)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyPeer(cs.PeerCertificates, ca, x509.ExtKeyUsageClientAuth)
			if err != nil {
				return err
			}
			if allow != nil && !allow(id) {
				return fmt.Errorf("%w: node %q not admitted", ErrIdentity, id)
			}
			return nil
		},
	}, nil
}

// ClientTLS returns the client side configuration for dialing node
// expect: TLS 1.3, the server's chain verified against ca, and its node ID
// required to equal expect. (Host name verification is replaced by the ID
// check, so InsecureSkipVerify is set and VerifyConnection does the full
// chain verification.)
func ClientTLS(cert tls.Certificate, ca *x509.CertPool, expect string) (*tls.Config, error) {
	if ca == nil || len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: certificate and CA required", ErrConfig)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		RootCAs:            ca,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyPeer(cs.PeerCertificates, ca, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if id != expect {
				return fmt.Errorf("%w: dialed %q, server is %q", ErrIdentity, expect, id)
			}
			return nil
		},
	}, nil
}

var errNoTLS = errors.New("stability: connection is not mutual TLS")
