package httpapi

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/stability"
)

// tlsServer serves b over HTTPS, asking for client certificates of ca
// (tls.VerifyClientCertIfGiven, as the serve command does).
func tlsServer(t *testing.T, ca *stability.CA, b Backend, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Backend = b
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.NodeCert("server")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs
}

// clientWith returns an HTTPS client trusting ca that presents cert (nil:
// no client certificate).
func clientWith(t *testing.T, ca *stability.CA, cert *tls.Certificate) *http.Client {
	t.Helper()
	conf := &tls.Config{RootCAs: ca.Pool}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: conf}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestServer_joinRemove_boundToCertificate: with credentials, a client
// certificate of the cluster's CA grants /join and /remove (PeerPerms)
// for the member it names only: an application certificate that names no
// member gets 403, as does a member's certificate joining as or removing
// another member; the member itself passes (the Standalone backend then
// answers 501 for a join and 404 for an unknown ID: authorization let the
// request through). An operator's password may act on any member. On a
// follower, a member's own join is not forwarded (the leader would see
// the follower's certificate): it gets 503 with the leader's URL; an
// operator's is forwarded.
func TestServer_joinRemove_boundToCertificate(t *testing.T) {
	ca, err := stability.NewCAWithOptions("httpapi test CA", stability.CAOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string, uris ...*url.URL) *tls.Certificate {
		c, err := ca.IssueWithOptions(cn, uris, stability.IssueOptions{Validity: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	creds, err := LoadCredentials(strings.NewReader(`[{"username": "op", "password": "pw", "perms": ["join", "remove"]},
		{"username": "*", "perms": ["status"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Credentials: creds, PeerPerms: []string{PermJoin, PermRemove}}
	leader := tlsServer(t, ca, newTestStandalone(t, "leader"), cfg)
	fcfg := cfg
	fcfg.Transport = clientWith(t, ca, issue("f", stability.NodeURI("f"))).Transport
	follower := tlsServer(t, ca, newFollower(newTestStandalone(t, "f"), leader.URL), fcfg)

	app := clientWith(t, ca, issue("some application"))
	nodeA := clientWith(t, ca, issue("a", stability.NodeURI("a")))
	anon := clientWith(t, ca, nil)
	send := func(c *http.Client, user, base, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name         string
		c            *http.Client
		user         string
		method, path string
		body         string
		want         int
	}{
		{"app cert joins", app, "", "POST", "/join", `{"id": "x", "addr": "127.0.0.1:1"}`, 403},
		{"app cert removes", app, "", "DELETE", "/remove", `{"id": "x"}`, 403},
		{"a joins as b", nodeA, "", "POST", "/join", `{"id": "b", "addr": "127.0.0.1:1"}`, 403},
		{"a removes c", nodeA, "", "DELETE", "/remove", `{"id": "c"}`, 403},
		{"a joins as a", nodeA, "", "POST", "/join", `{"id": "a", "addr": "127.0.0.1:1"}`, 501},
		{"a removes a", nodeA, "", "DELETE", "/remove", `{"id": "a"}`, 404},
		{"anonymous joins", anon, "", "POST", "/join", `{"id": "x", "addr": "127.0.0.1:1"}`, 401},
		{"operator joins b", anon, "op", "POST", "/join", `{"id": "b", "addr": "127.0.0.1:1"}`, 501},
		{"operator removes c", anon, "op", "DELETE", "/remove", `{"id": "c"}`, 404},
		{"operator with app cert", app, "op", "POST", "/join", `{"id": "b", "addr": "127.0.0.1:1"}`, 501},
	} {
		if got, body := send(tc.c, tc.user, leader.URL, tc.method, tc.path, tc.body); got != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, got, body, tc.want)
		}
	}
	// Through a follower.
	if got, body := send(nodeA, "", follower.URL, "POST", "/join", `{"id": "a", "addr": "127.0.0.1:1"}`); got != 503 || errorOf(t, body).Leader != leader.URL {
		t.Errorf("a joins as a through a follower: %d %s, want 503 naming the leader %s", got, body, leader.URL)
	}
	if got, body := send(nodeA, "", follower.URL, "POST", "/join", `{"id": "b", "addr": "127.0.0.1:1"}`); got != 403 {
		t.Errorf("a joins as b through a follower: %d %s, want 403", got, body)
	}
	if got, body := send(anon, "op", follower.URL, "POST", "/join", `{"id": "b", "addr": "127.0.0.1:1"}`); got != 501 {
		t.Errorf("operator joins b through a follower: %d %s, want 501 from the leader", got, body)
	}
}

// membersBackend is a Standalone whose /nodes lists extra members too.
type membersBackend struct {
	*Standalone
	extra []NodeInfo
}

func (b membersBackend) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ns, err := b.Standalone.Nodes(ctx)
	return append(ns, b.extra...), err
}

// TestServer_nodes_hiddenNonvotersCounted: /nodes lists voters only
// unless ?nonvoters, as rqlite does, but says how many members it left
// out, so that a demoted voter does not silently vanish.
func TestServer_nodes_hiddenNonvotersCounted(t *testing.T) {
	b := membersBackend{Standalone: newTestStandalone(t, "node1"), extra: []NodeInfo{
		{ID: "demoted", APIAddr: "http://127.0.0.1:1", Addr: "127.0.0.1:2", Reachable: true}}}
	ts := startServer(t, b, Config{})
	for _, tc := range []struct {
		path, header, body string
	}{
		{"/nodes", "1", `"node1"`},
		{"/nodes?ver=2", "1", `"hidden_nonvoters":1`},
		{"/nodes?nonvoters", "", `"demoted"`},
	} {
		resp, err := ts.Client().Get(ts.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get(HiddenNonvotersHeader); got != tc.header || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s: header %q body %s, want header %q and %s", tc.path, got, body, tc.header, tc.body)
		}
		if tc.header != "" && strings.Contains(string(body), `"demoted"`) {
			t.Errorf("%s lists the non-voter: %s", tc.path, body)
		}
	}
}
