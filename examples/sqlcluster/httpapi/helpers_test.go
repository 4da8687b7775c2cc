package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

var vfsSeq atomic.Int64

// newTestStandalone opens a sqlnode.Node on SQLite over an in-memory vfs (via
// examples/sqlitevfs) and wraps it in a Standalone; cleanup checks and closes
// everything.
func newTestStandalone(t testing.TB, id string) *Standalone {
	t.Helper()
	name := fmt.Sprintf("httpapi-test-%d", vfsSeq.Add(1))
	if err := sqlitevfs.Register(name, vfs.NewMem(), sqlitevfs.WithSharedMemory(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	n, err := sqlnode.Open(sqlnode.Options{VFS: name, Path: "main.db"})
	if err != nil {
		t.Fatal(err)
	}
	l := NewStandalone(n, id)
	t.Cleanup(func() {
		if err := l.Check(); err != nil {
			t.Error(err)
		}
		if err := n.Close(); err != nil && !errors.Is(err, sqlnode.ErrClosed) {
			t.Error(err)
		}
		if err := sqlitevfs.Unregister(name); err != nil {
			t.Error(err)
		}
	})
	return l
}

// testServer is a Server on an httptest.Server.
type testServer struct {
	*httptest.Server
	api *Server
}

// startServer serves b (a *Standalone gets its API address set) with cfg.
func startServer(t testing.TB, b Backend, cfg Config) *testServer {
	t.Helper()
	cfg.Backend = b
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	if l, ok := b.(*Standalone); ok {
		l.SetAPIAddr(hs.URL)
	}
	return &testServer{Server: hs, api: s}
}

func newStandaloneServer(t testing.TB) (*testServer, *Standalone) {
	t.Helper()
	l := newTestStandalone(t, "node1")
	return startServer(t, l, Config{}), l
}

// do sends a request and returns the status and body.
func (ts *testServer) do(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mustOK sends a request that must succeed with 200.
func (ts *testServer) mustOK(t testing.TB, method, path, body string) string {
	t.Helper()
	code, out := ts.do(t, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s %s: status %d, body %s", method, path, body, code, out)
	}
	return out
}

// responseRecorder is a minimal http.ResponseWriter for calling
// ServeHTTP directly.
type responseRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newResponseRecorder() *responseRecorder {
	return &responseRecorder{header: http.Header{}}
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
