package netstorage_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
)

// grpcNet gives each member a stability endpoint on 127.0.0.1 over gRPC
// with mutual TLS. A member's listener and address survive its restarts;
// the handler behind it is swapped (nil: refuse everything, as a dead
// member would not answer).
type grpcNet struct {
	t  testing.TB
	ca *stabilitytest.CA

	mu    sync.Mutex
	nodes map[string]*grpcNode
}

type grpcNode struct {
	addr string
	cfg  stability.GRPCConfig
	h    swapHandler
}

// swapHandler forwards to the current handler, or answers "not serving".
type swapHandler struct {
	mu sync.Mutex
	h  stability.Handler
}

func (s *swapHandler) get() stability.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return &stability.Mux{}
	}
	return s.h
}

func (s *swapHandler) HandlePreserve(ctx context.Context, from string, req *stability.PreserveRequest) *stability.PreserveResponse {
	return s.get().HandlePreserve(ctx, from, req)
}

func (s *swapHandler) HandleReset(ctx context.Context, from string, st stability.ResetStream) error {
	return s.get().HandleReset(ctx, from, st)
}

func newGRPCNet(t testing.TB) *grpcNet {
	return &grpcNet{t: t, ca: stabilitytest.NewCA(t), nodes: map[string]*grpcNode{}}
}

// node returns member id's endpoint, starting its server on first use.
func (g *grpcNet) node(id string) *grpcNode {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.nodes[id]; n != nil {
		return n
	}
	n := &grpcNode{cfg: stability.GRPCConfig{ID: id, Cert: g.ca.NodeCert(g.t, id), CA: g.ca.Pool}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		g.t.Fatal(err)
	}
	srv, err := stability.NewGRPCServer(n.cfg, &n.h)
	if err != nil {
		g.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	g.t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	n.addr = lis.Addr().String()
	g.nodes[id] = n
	return n
}

func (g *grpcNet) addr(id string) string { return g.node(id).addr }

func (g *grpcNet) serve(id string, h stability.Handler) {
	n := g.node(id)
	n.h.mu.Lock()
	n.h.h = h
	n.h.mu.Unlock()
}

func (g *grpcNet) transport(id string) stability.Transport {
	tr, err := stability.NewGRPCTransport(g.node(id).cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	return tr
}
