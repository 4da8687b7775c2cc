package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"

	"github.com/holeycow/holeycow/stability"
)

// Permissions, as rqlite names them. PermAll grants every one.
const (
	PermAll     = "all"
	PermExecute = "execute" // POST /db/execute (and /db/request, with query)
	PermQuery   = "query"   // /db/query (and /db/request, with execute)
	PermStatus  = "status"  // /status, /nodes, /metrics
	PermReady   = "ready"   // /readyz
	PermJoin    = "join"    // /join
	PermRemove  = "remove"  // /remove
	PermBackup  = "backup"  // /db/backup
	PermLoad    = "load"    // /db/load
)

// User is one entry of a credentials file, in rqlite's format:
//
//	[{"username": "bob", "password": "secret", "perms": ["query", "status"]},
//	 {"username": "*", "perms": ["status", "ready"]}]
//
// The user "*" lists what everyone may do, anonymous clients included.
// Permission names this package does not use (rqlite's "backup", "load",
// ...) are accepted and ignored.
type User struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Perms    []string `json:"perms"`
}

// Credentials are the users a Server accepts with HTTP basic
// authentication. Passwords are compared in constant time (of their
// SHA-256 digests, so that not even their lengths leak); rqlite's bcrypt
// hashes are not supported.
//
// Concurrency: immutable after LoadCredentials; safe for concurrent use.
type Credentials struct {
	users map[string]credUser
	any   []string // perms of "*"
}

type credUser struct {
	digest [sha256.Size]byte
	perms  []string
}

// LoadCredentials reads a JSON credentials file (see User). It fails on
// malformed JSON, an empty or repeated username, and a user other than
// "*" without a password.
func LoadCredentials(r io.Reader) (*Credentials, error) {
	var us []User
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&us); err != nil {
		return nil, fmt.Errorf("httpapi: credentials: %w", err)
	}
	c := &Credentials{users: make(map[string]credUser, len(us))}
	for i, u := range us {
		switch {
		case u.Username == "":
			return nil, fmt.Errorf("httpapi: credentials: entry %d has no username", i+1)
		case u.Username == "*":
			c.any = append(c.any, u.Perms...)
			continue
		case u.Password == "":
			return nil, fmt.Errorf("httpapi: credentials: user %q has no password", u.Username)
		}
		if _, dup := c.users[u.Username]; dup {
			return nil, fmt.Errorf("httpapi: credentials: user %q appears twice", u.Username)
		}
		c.users[u.Username] = credUser{digest: sha256.Sum256([]byte(u.Password)), perms: u.Perms}
	}
	return c, nil
}

// ReadCredentialsFile loads the credentials file at path.
func ReadCredentialsFile(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadCredentials(f)
}

// dummy is compared against when the user is unknown, so that a wrong
// username takes as long as a wrong password.
var dummy = sha256.Sum256([]byte("holeycow"))

// grant is what authorize allowed a request, for the endpoints that act on
// a member (/join, /remove).
type grant struct {
	// operator: a user ("*" included) holds the endpoint's permissions,
	// or no credentials are configured. An operator may add and remove
	// any member.
	operator bool
	// node is the member ID that the verified client certificate names
	// (stability.NodeURI); "" if none. Holding the endpoint's permissions
	// through PeerPerms only, the client may act on this member only.
	node string
}

type grantKey struct{}

// grantOf returns the grant that ServeHTTP stored in r's context (none: a
// zero grant, which allows nothing).
func grantOf(r *http.Request) grant {
	g, _ := r.Context().Value(grantKey{}).(grant)
	return g
}

// mayActOn checks that the request may join, leave or remove (verb)
// member id: an operator may act on any member, a member's certificate on
// that member only. The refusal wraps ErrForbidden.
func mayActOn(r *http.Request, verb, id string) error {
	g := grantOf(r)
	switch {
	case g.operator:
		return nil
	case g.node == "":
		return fmt.Errorf("%w: the client certificate names no member; only an operator may %s member %q", ErrForbidden, verb, id)
	case g.node != id:
		return fmt.Errorf("%w: the certificate of member %q may %s that member only, not %q; an operator may", ErrForbidden, g.node, verb, id)
	}
	return nil
}

// authorize checks that r may use an endpoint needing perms: its grant,
// or the status (401 or 403) and why not. A nil *Credentials allows
// everything (an operator's grant). A client whose TLS certificate the
// server verified also gets peer, as the member the certificate names.
func (c *Credentials) authorize(r *http.Request, perms, peer []string) (grant, int, error) {
	var g grant
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		g.node, _ = stability.NodeID(r.TLS.VerifiedChains[0][0])
	}
	if c == nil {
		g.operator = true
		return g, 0, nil
	}
	granted := c.any
	name, pass, ok := r.BasicAuth()
	if ok {
		u, known := c.users[name]
		want := dummy
		if known {
			want = u.digest
		}
		got := sha256.Sum256([]byte(pass))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
			return grant{}, http.StatusUnauthorized, fmt.Errorf("httpapi: wrong username or password")
		}
		granted = append(slices.Clip(u.perms), granted...)
	}
	if hasAll(granted, perms) {
		g.operator = true
		return g, 0, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		granted = append(slices.Clip(granted), peer...)
	}
	for _, p := range perms {
		if !slices.Contains(granted, p) && !slices.Contains(granted, PermAll) {
			if !ok {
				return grant{}, http.StatusUnauthorized, fmt.Errorf("httpapi: authentication required (permission %q)", p)
			}
			return grant{}, http.StatusForbidden, fmt.Errorf("httpapi: user %q lacks permission %q", name, p)
		}
	}
	return g, 0, nil
}

// hasAll reports whether granted holds every one of perms.
func hasAll(granted, perms []string) bool {
	if slices.Contains(granted, PermAll) {
		return true
	}
	for _, p := range perms {
		if !slices.Contains(granted, p) {
			return false
		}
	}
	return true
}
