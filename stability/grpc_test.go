package stability_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/internal/wire"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// countingHandler counts the requests that reach it and answers OK.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) HandlePreserve(_ context.Context, _ string, req *stability.PreserveRequest) *stability.PreserveResponse {
	h.n.Add(1)
	return &stability.PreserveResponse{Seq: req.Seq, Epoch: req.Epoch}
}

func (h *countingHandler) HandleReset(context.Context, string, stability.ResetStream) error {
	h.n.Add(1)
	return nil
}

// serve starts a gRPC server for node id on 127.0.0.1 and returns its
// address; the server stops at the end of the test.
func serve(t testing.TB, ca *stabilitytest.CA, id string, h stability.Handler, allow func(string) bool) string {
	t.Helper()
	addr, stop := startServer(t, ca, id, h, allow)
	t.Cleanup(stop)
	return addr
}

// startServer starts a gRPC server and returns its address and its Stop.
func startServer(t testing.TB, ca *stabilitytest.CA, id string, h stability.Handler, allow func(string) bool) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := stability.NewGRPCServer(stability.GRPCConfig{ID: id, Cert: ca.NodeCert(t, id), CA: ca.Pool, Allow: allow}, h)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	return lis.Addr().String(), s.Stop
}

func transport(t testing.TB, ca *stabilitytest.CA, id string, certCA *stabilitytest.CA, pool *x509.CertPool) stability.Transport {
	t.Helper()
	tr, err := stability.NewGRPCTransport(stability.GRPCConfig{ID: id, Cert: certCA.NodeCert(t, id), CA: pool})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func preserveOnce(t *testing.T, tr stability.Transport, p stability.Peer, writer string) (*stability.PreserveResponse, error) {
	t.Helper()
	conn, err := tr.Dial(p)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return conn.Preserve(ctx, &stability.PreserveRequest{Epoch: 1, Writer: writer, Seq: 1})
}

func TestGRPCTransport_Dial_mutualTLS(t *testing.T) {
	ca := stabilitytest.NewCA(t)
	h := &countingHandler{}
	addr := serve(t, ca, "c1", h, func(id string) bool { return id == "w" || id == "mallory" })
	peer := stability.Peer{ID: "c1", Addr: addr}

	t.Run("good", func(t *testing.T) {
		resp, err := preserveOnce(t, transport(t, ca, "w", ca, ca.Pool), peer, "w")
		if err != nil || resp.Code != stability.CodeOK {
			t.Fatalf("%+v, %v", resp, err)
		}
	})
	before := h.n.Load()
	t.Run("plaintext", func(t *testing.T) {
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var out []byte
		err = cc.Invoke(ctx, "/holeycow.stability.v1.Stability/Preserve", []byte{0x51}, &out, grpc.ForceCodec(rawCodec{}))
		if err == nil {
			t.Fatal("plaintext call succeeded")
		}
		t.Logf("plaintext refused: %v", err)
	})
	t.Run("foreignCA", func(t *testing.T) {
		other := stabilitytest.NewCA(t)
		_, err := preserveOnce(t, transport(t, ca, "w", other, ca.Pool), peer, "w")
		if err == nil {
			t.Fatal("client with a foreign CA's certificate accepted")
		}
		t.Logf("foreign CA refused: %v", err)
	})
	t.Run("serverWrongIdentity", func(t *testing.T) {
		_, err := preserveOnce(t, transport(t, ca, "w", ca, ca.Pool), stability.Peer{ID: "c2", Addr: addr}, "w")
		if err == nil || !strings.Contains(err.Error(), "wrong peer identity") {
			t.Fatalf("dialing c2 reached c1: %v", err)
		}
	})
	t.Run("clientNotAdmitted", func(t *testing.T) {
		_, err := preserveOnce(t, transport(t, ca, "eve", ca, ca.Pool), peer, "eve")
		if err == nil {
			t.Fatal("client not admitted by Allow was served")
		}
	})
	t.Run("clientNoNodeID", func(t *testing.T) {
		cert := ca.CertWithURIs(t, "w", []*url.URL{{Scheme: "https", Host: "w"}})
		tr, err := stability.NewGRPCTransport(stability.GRPCConfig{ID: "w", Cert: cert, CA: ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := preserveOnce(t, tr, peer, "w"); err == nil {
			t.Fatal("certificate without a node ID accepted")
		}
	})
	if n := h.n.Load(); n != before {
		t.Fatalf("%d refused requests reached the handler", n-before)
	}
	t.Run("claimsOtherIdentity", func(t *testing.T) {
		// mallory is admitted but claims to be w: the Responder refuses.
		v, err := cow.NewCopier(newMemFS(), cow.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := stability.NewResponder(stability.ResponderConfig{ID: "c3", View: v, Transport: transport(t, ca, "c3", ca, ca.Pool)})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		mux := &stability.Mux{}
		mux.SetResponder(r)
		addr := serve(t, ca, "c3", mux, nil)
		resp, err := preserveOnce(t, transport(t, ca, "mallory", ca, ca.Pool), stability.Peer{ID: "c3", Addr: addr}, "w")
		if err != nil || resp.Code != stability.CodeIdentity || !errors.Is(resp.Code.Err(resp.Detail), stability.ErrIdentity) {
			t.Fatalf("impersonation answered %+v, %v", resp, err)
		}
	})
}

// rawCodec sends bytes as they are (for the plaintext client).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = data
	return nil
}
func (rawCodec) Name() string { return "raw" }

func TestGRPCServer_malformedMessage(t *testing.T) {
	ca := stabilitytest.NewCA(t)
	h := &countingHandler{}
	var logs lockedBuffer
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := stability.NewGRPCServer(stability.GRPCConfig{ID: "c1", Cert: ca.NodeCert(t, "c1"), CA: ca.Pool,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, h)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	addr := lis.Addr().String()
	tc, err := stability.ClientTLS(ca.NodeCert(t, "w"), ca.Pool, "c1")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentialsTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, msg := range [][]byte{{}, {0x51}, {0x51, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte("garbage"), make([]byte, wire.MaxMessageSize+4096)} {
		var out []byte
		err := cc.Invoke(ctx, "/holeycow.stability.v1.Stability/Preserve", msg, &out, grpc.ForceCodec(rawCodec{}),
			grpc.MaxCallSendMsgSize(1<<30))
		if err == nil {
			t.Fatalf("malformed message of %d bytes accepted", len(msg))
		}
	}
	if h.n.Load() != 0 {
		t.Fatal("a malformed message reached the handler")
	}
	if !strings.Contains(logs.String(), "stability: bad message") {
		t.Fatalf("malformed messages not logged; log:\n%s", logs.String())
	}
	// The server is still healthy.
	resp, err := preserveOnce(t, transport(t, ca, "w", ca, ca.Pool), stability.Peer{ID: "c1", Addr: addr}, "w")
	if err != nil || resp.Code != stability.CodeOK {
		t.Fatalf("after malformed messages: %+v, %v", resp, err)
	}
}

func credentialsTLS(c *tls.Config) credentials.TransportCredentials { return credentials.NewTLS(c) }

func newMemFS() vfs.FS { return vfs.NewMem() }

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNodeID_roundTrip(t *testing.T) {
	ca := stabilitytest.NewCA(t)
	for _, id := range []string{"a", "node-7", "with space/and slash", "ünï"} {
		cert := ca.NodeCert(t, id)
		got, err := stability.NodeID(cert.Leaf)
		if err != nil || got != id {
			t.Errorf("NodeID(NodeCert(%q)) = %q, %v", id, got, err)
		}
	}
	two := ca.CertWithURIs(t, "x", []*url.URL{stability.NodeURI("a"), stability.NodeURI("b")})
	if _, err := stability.NodeID(two.Leaf); !errors.Is(err, stability.ErrIdentity) {
		t.Errorf("two IDs: %v", err)
	}
	none := ca.CertWithURIs(t, "a", nil)
	if _, err := stability.NodeID(none.Leaf); !errors.Is(err, stability.ErrIdentity) {
		t.Errorf("no ID (a CN is not an ID): %v", err)
	}
}
