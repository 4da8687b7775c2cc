package stabilitytest

import (
	"crypto/tls"
	"net/url"

	"github.com/holeycow/holeycow/stability"
)

// TB is what the helpers need of a *testing.T or *testing.B. This package
// does not import testing: in-process clusters run on Network outside
// tests too.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// CA is an in-memory certificate authority for tests: stability.CA with
// methods that fail tb instead of returning errors.
//
// Concurrency: safe for concurrent use.
type CA struct {
	*stability.CA
}

// NewCA mints a CA valid for a day. It fails tb on error.
func NewCA(tb TB) *CA {
	tb.Helper()
	ca, err := stability.NewCA("holeycow test CA")
	if err != nil {
		tb.Fatal(err)
	}
	return &CA{ca}
}

// NodeCert mints a certificate for node id (URI SAN stability.NodeURI(id),
// usable for client and server authentication).
func (ca *CA) NodeCert(tb TB, id string) tls.Certificate {
	tb.Helper()
	return ca.CertWithURIs(tb, id, []*url.URL{stability.NodeURI(id)})
}

// CertWithURIs mints a certificate with the given common name and URI SANs, for
// tests of identity checks (no URI, several, a foreign scheme).
func (ca *CA) CertWithURIs(tb TB, cn string, uris []*url.URL) tls.Certificate {
	tb.Helper()
	c, err := ca.Issue(cn, uris)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
