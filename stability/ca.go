package stability

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// CA is a certificate authority for clusters whose members trust one
// self-managed CA: tests, demos and benchmarks minted in memory (NewCA),
// or a small deployment that keeps the CA in a file (PEM, LoadCA).
// Production deployments usually bring their own certificates, naming
// each node as NodeURI does.
//
// Keys are ECDSA P-256. Certificates are backdated an hour, to tolerate
// clock skew between the machines of a cluster.
//
// Concurrency: safe for concurrent use (immutable after NewCA or LoadCA).
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // holds Cert: GRPCConfig.CA, tls.Config RootCAs and ClientCAs
	key  *ecdsa.PrivateKey
}

const (
	defaultValidity = 24 * time.Hour // of CAs and certificates, where options leave it zero
	backdate        = time.Hour      // how far before now certificates become valid
)

// CAOptions configures NewCAWithOptions. The zero value gives NewCA's CA.
type CAOptions struct {
	// Validity is how long the CA stays valid from now; zero means a
	// day. Certificates it issues never outlast it.
	Validity time.Duration
}

// IssueOptions configures IssueWithOptions. The zero value gives Issue's
// certificate.
type IssueOptions struct {
	// Hosts are names the certificate is valid for besides 127.0.0.1, ::1
	// and localhost: each an IP address (an IPv6 zone is dropped) or a DNS
	// name. Duplicates are dropped; an empty entry is an error.
	Hosts []string
	// Validity is how long the certificate stays valid from now; zero
	// means a day. It is cut short to the CA's expiry.
	Validity time.Duration
}

// NewCA mints a CA named name, valid for a day.
func NewCA(name string) (*CA, error) {
	return NewCAWithOptions(name, CAOptions{})
}

// NewCAWithOptions mints a CA named name as opts say. A negative Validity
// is an error wrapping ErrConfig.
func NewCAWithOptions(name string, opts CAOptions) (*CA, error) {
	validity, err := validityOr(opts.Validity)
	if err != nil {
		return nil, err
	}
	key, serial, err := newKeyAndSerial(name)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("stability: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("stability: CA certificate: %w", err)
	}
	return newCA(cert, key), nil
}

func newCA(cert *x509.Certificate, key *ecdsa.PrivateKey) *CA {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}
}

// PEM returns the CA's certificate (one CERTIFICATE block) and private key
// (one EC PRIVATE KEY block, SEC 1), as LoadCA reads them back. The key is
// secret: whoever holds it can mint certificates for any node.
func (ca *CA) PEM() (certPEM, keyPEM []byte, err error) {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("stability: CA key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return certPEM, keyPEM, nil
}

// LoadCA reads back a CA written by PEM. certPEM must hold exactly one
// CERTIFICATE block and keyPEM exactly one private key block (EC PRIVATE
// KEY, or PRIVATE KEY in PKCS #8 holding an ECDSA key); blocks of other
// types are skipped, so both may be the same bytes (one file holding
// both).
//
// The certificate must be a CA allowed to sign certificates, valid now,
// and the key must be its own. Every error wraps ErrConfig; one for a CA
// that has expired or is not yet valid also wraps an
// x509.CertificateInvalidError (Reason x509.Expired).
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	certBlock, err := onePEM(certPEM, "CA certificate", func(t string) bool { return t == "CERTIFICATE" })
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %v", ErrConfig, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: CA certificate %q is not a CA that may sign certificates", ErrConfig, cert.Subject.CommonName)
	}
	if err := checkValid(cert, time.Now()); err != nil {
		return nil, err
	}
	keyBlock, err := onePEM(keyPEM, "CA key", isKeyType)
	if err != nil {
		return nil, err
	}
	key, err := parseECKey(keyBlock)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: CA key does not match certificate %q", ErrConfig, cert.Subject.CommonName)
	}
	return newCA(cert, key), nil
}

// onePEM returns the one PEM block in data whose type want accepts.
func onePEM(data []byte, what string, want func(typ string) bool) (*pem.Block, error) {
	var found []*pem.Block
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if want(b.Type) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%w: %s: want one PEM block, found %d", ErrConfig, what, len(found))
	}
	return found[0], nil
}

func isKeyType(typ string) bool { return typ == "EC PRIVATE KEY" || typ == "PRIVATE KEY" }

// parseECKey parses an ECDSA private key: SEC 1 in an EC PRIVATE KEY
// block, PKCS #8 in a PRIVATE KEY block.
func parseECKey(b *pem.Block) (*ecdsa.PrivateKey, error) {
	if b.Type == "EC PRIVATE KEY" {
		key, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA key: %v", ErrConfig, err)
		}
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA key: %v", ErrConfig, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: CA key: %T, want ECDSA", ErrConfig, k)
	}
	return key, nil
}

// NodeCert mints a certificate for node id: URI SAN NodeURI(id), usable for
// client and server authentication, valid for 127.0.0.1, ::1 and
// localhost.
func (ca *CA) NodeCert(id string) (tls.Certificate, error) {
	return ca.Issue(id, []*url.URL{NodeURI(id)})
}

// Issue mints a certificate with common name cn and the given URI SANs
// (loopback addresses and localhost as well), for client and server
// authentication, valid for a day. Tests of identity checks use it for
// certificates with no node URI, several, or a foreign scheme.
func (ca *CA) Issue(cn string, uris []*url.URL) (tls.Certificate, error) {
	return ca.IssueWithOptions(cn, uris, IssueOptions{})
}

// IssueWithOptions is Issue with more host names and another validity (see
// IssueOptions). An empty host, a negative Validity or a CA that is not
// valid now is an error wrapping ErrConfig.
func (ca *CA) IssueWithOptions(cn string, uris []*url.URL, opts IssueOptions) (tls.Certificate, error) {
	validity, err := validityOr(opts.Validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	dns := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range opts.Hosts {
		if h == "" {
			return tls.Certificate{}, fmt.Errorf("%w: certificate for %s: empty host", ErrConfig, cn)
		}
		if a, err := netip.ParseAddr(h); err == nil {
			ip := net.IP(a.WithZone("").AsSlice())
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	now := time.Now()
	if err := checkValid(ca.Cert, now); err != nil {
		return tls.Certificate{}, err
	}
	key, serial, err := newKeyAndSerial(cn)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
		URIs:         uris,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("stability: certificate for %s: %w", cn, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("stability: certificate for %s: %w", cn, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// validityOr returns v, or the default for zero.
func validityOr(v time.Duration) (time.Duration, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("%w: negative validity %v", ErrConfig, v)
	case v == 0:
		return defaultValidity, nil
	}
	return v, nil
}

// checkValid reports a CA certificate that has expired or is not yet
// valid at now.
func checkValid(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: CA certificate %q: %w", ErrConfig, cert.Subject.CommonName,
			x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired,
				Detail: fmt.Sprintf("valid from %s to %s", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))})
	}
	return nil
}

// newKeyAndSerial returns a fresh P-256 key and a random 62-bit serial
// number for a certificate named cn.
func newKeyAndSerial(cn string) (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("stability: key for %s: %w", cn, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("stability: serial for %s: %w", cn, err)
	}
	return key, serial, nil
}
