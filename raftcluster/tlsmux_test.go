package raftcluster_test

import (
	"context"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// senderHandler records who the stability server authenticated.
type senderHandler struct {
	mu   sync.Mutex
	from []string
}

func (h *senderHandler) HandlePreserve(_ context.Context, from string, req *stability.PreserveRequest) *stability.PreserveResponse {
	h.mu.Lock()
	h.from = append(h.from, from)
	h.mu.Unlock()
	return &stability.PreserveResponse{Seq: req.Seq, Epoch: req.Epoch}
}

func (h *senderHandler) senders() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.from...)
}

func (h *senderHandler) HandleReset(context.Context, string, stability.ResetStream) error { return nil }

// TestTLSTransport_stabilityOnRaftPort: the stability protocol and Raft's
// forwarded requests share one port, each with its own mutual TLS checks.
func TestTLSTransport_stabilityOnRaftPort(t *testing.T) {
	ca := newCA(t)
	conf := ca.config(t, "c1")
	tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", conf, time.Second, nil)
	noErr(t, err)
	t.Cleanup(func() { tr.Close() })
	h := &senderHandler{}
	srv, err := stability.NewGRPCServer(stability.GRPCConfig{ID: "c1", Cert: conf.Certificates[0], CA: ca.pool}, h)
	noErr(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tr.StabilityListener()) }()
	t.Cleanup(func() { srv.Stop(); <-served })

	preserve := func(cert tls.Certificate, id, peerID string) (*stability.PreserveResponse, error) {
		gt, err := stability.NewGRPCTransport(stability.GRPCConfig{ID: id, Cert: cert, CA: ca.pool})
		noErr(t, err)
		conn, err := gt.Dial(stability.Peer{ID: peerID, Addr: tr.Addr()})
		noErr(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return conn.Preserve(ctx, &stability.PreserveRequest{Epoch: 1, Writer: id, Seq: 1})
	}

	resp, err := preserve(ca.config(t, "w").Certificates[0], "w", "c1")
	noErr(t, err)
	if resp.Code != stability.CodeOK {
		t.Fatalf("answer %+v", resp)
	}
	if got := h.senders(); len(got) != 1 || got[0] != "w" {
		t.Fatalf("the server authenticated %v, not the writer w", got)
	}

	// The client checks the server's identity on the shared port too.
	_, err = preserve(ca.config(t, "w").Certificates[0], "w", "c2")
	if err == nil {
		t.Fatal("a server that is not the peer dialed was accepted")
	}

	// A certificate that names no node is refused by the stability server.
	if _, err = preserve(ca.appConfig(t, "app").Certificates[0], "app", "c1"); err == nil {
		t.Fatal("a certificate that names no node was accepted")
	}

	// The handler learns the authenticated sender, not the claimed one
	// (stability.Responder refuses a mismatch with CodeIdentity).
	gt, err := stability.NewGRPCTransport(stability.GRPCConfig{ID: "w", Cert: ca.config(t, "w").Certificates[0], CA: ca.pool})
	noErr(t, err)
	conn, err := gt.Dial(stability.Peer{ID: "c1", Addr: tr.Addr()})
	noErr(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = conn.Preserve(ctx, &stability.PreserveRequest{Epoch: 1, Writer: "mallory", Seq: 1})
	conn.Close()
	noErr(t, err)
	if got := h.senders(); len(got) != 2 || got[1] != "w" {
		t.Fatalf("senders %v, want [w w]", got)
	}
}

// TestTLSTransport_stabilityRefusedWithoutListener: until the caller asks
// for the stability listener, stability connections are closed, and Raft's
// own connections are unaffected by the first-byte check.
func TestTLSTransport_stabilityRefusedWithoutListener(t *testing.T) {
	ca := newCA(t)
	conf := ca.config(t, "c1")
	tr, err := raftcluster.NewTLSTransport("127.0.0.1:0", "", conf, time.Second, nil)
	noErr(t, err)
	t.Cleanup(func() { tr.Close() })
	gt, err := stability.NewGRPCTransport(stability.GRPCConfig{ID: "w", Cert: ca.config(t, "w").Certificates[0], CA: ca.pool})
	noErr(t, err)
	conn, err := gt.Dial(stability.Peer{ID: "c1", Addr: tr.Addr()})
	noErr(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err = conn.Preserve(ctx, &stability.PreserveRequest{Epoch: 1, Writer: "w", Seq: 1}); err == nil {
		t.Fatal("a stability request was served without a stability listener")
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
