package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rqlite/gorqlite"
)

const usersJSON = `[
	{"username": "admin", "password": "s3cret", "perms": ["all"]},
	{"username": "reader", "password": "r", "perms": ["query", "backup"]},
	{"username": "*", "perms": ["status", "ready"]}
]`

// TestCredentials_authorize_peerCertificate: a client whose TLS
// certificate the server verified gets the peer permissions, and only it.
func TestCredentials_authorize_peerCertificate(t *testing.T) {
	creds, err := LoadCredentials(strings.NewReader(usersJSON))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/join", nil)
	if _, status, _ := creds.authorize(req, []string{PermJoin}, []string{PermJoin}); status != http.StatusUnauthorized {
		t.Fatalf("join without a certificate: %d, want 401", status)
	}
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	if _, status, _ := creds.authorize(req, []string{PermJoin}, []string{PermJoin}); status != http.StatusUnauthorized {
		t.Fatalf("join with an unverified certificate: %d, want 401", status)
	}
	req.TLS.VerifiedChains = [][]*x509.Certificate{{{}}}
	if _, status, err := creds.authorize(req, []string{PermJoin}, []string{PermJoin}); status != 0 {
		t.Fatalf("join with a verified certificate: %d %v", status, err)
	}
	if _, status, _ := creds.authorize(req, []string{PermExecute}, []string{PermJoin}); status != http.StatusUnauthorized {
		t.Fatalf("execute with a verified certificate: %d, want 401", status)
	}
}

func TestCredentials_authorize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, []byte(usersJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := ReadCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := newTestStandalone(t, "node1")
	ts := startServer(t, l, Config{Credentials: creds})
	base := ts.URL
	send := func(user, pass, method, path, body string) int {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		user, pass, method, path, body string
		want                           int
	}{
		{"", "", "POST", "/db/execute", createFoo, 401},
		{"admin", "wrong", "POST", "/db/execute", createFoo, 401},
		{"admin", "s3cre", "POST", "/db/execute", createFoo, 401},
		{"nobody", "s3cret", "POST", "/db/execute", createFoo, 401},
		{"*", "", "POST", "/db/execute", createFoo, 401},
		{"reader", "r", "POST", "/db/execute", createFoo, 403},
		{"admin", "s3cret", "POST", "/db/execute", createFoo, 200},
		{"reader", "r", "POST", "/db/query", `["SELECT * FROM foo"]`, 200},
		{"reader", "r", "POST", "/db/request", `["SELECT * FROM foo"]`, 403},
		{"", "", "GET", "/status", "", 200},
		{"", "", "GET", "/readyz", "", 200},
		{"reader", "r", "GET", "/nodes", "", 200}, // "*" grants status to everyone
		{"", "", "GET", "/db/query?q=SELECT+1", "", 401},
		{"reader", "r", "POST", "/join", `{"id": "x", "addr": "y"}`, 403},
		{"admin", "s3cret", "DELETE", "/remove", `{"id": "x"}`, 404},
	} {
		if got := send(tc.user, tc.pass, tc.method, tc.path, tc.body); got != tc.want {
			t.Errorf("%s:%s %s %s: %d, want %d", tc.user, tc.pass, tc.method, tc.path, got, tc.want)
		}
	}

	// gorqlite with credentials in the URL.
	conn, err := gorqlite.OpenWithClient(strings.Replace(ts.URL, "http://", "http://admin:s3cret@", 1), ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.WriteOne("INSERT INTO foo(name) VALUES('x')"); err != nil {
		t.Fatal(err)
	}

	// A follower forwards the credentials; the leader checks them.
	fs := startServer(t, newFollower(newTestStandalone(t, "node2"), ts.URL), Config{Credentials: creds})
	base = fs.URL
	if got := send("admin", "s3cret", "POST", "/db/execute", `["INSERT INTO foo(name) VALUES('y')"]`); got != 200 {
		t.Errorf("forwarded with credentials: %d", got)
	}
	if got := l.node.AppliedIndex(); got != 3 {
		t.Errorf("leader applied %d, want 3", got)
	}
}

func TestLoadCredentials_invalid(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `[{"username": ""}]`, `[{"username": "a"}]`, `[{"username": "a", "password": "p", "extra": 1}]`,
		`[{"username": "a", "password": "p"}, {"username": "a", "password": "q"}]`, `[{"username": "a", "password": "p", "perms": "all"}]`,
	} {
		if _, err := LoadCredentials(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}
