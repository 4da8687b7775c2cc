package raftcluster

import (
	"context"

	"github.com/hashicorp/raft"

	"github.com/holeycow/holeycow/raftcluster/internal/memraft"
)

// memTransport is a Transport over an in-process endpoint
// (clustertest.RaftNetwork's). It authenticates no one.
//
// Concurrency: as memraft.Endpoint's.
type memTransport struct{ ep *memraft.Endpoint }

var (
	_ Transport = memTransport{}
	_ Transport = (*TLSTransport)(nil)
)

func init() {
	memraft.AsTransport = func(ep *memraft.Endpoint) any { return memTransport{ep} }
}

func (t memTransport) Addr() string                  { return t.ep.Addr() }
func (t memTransport) Close() error                  { return t.ep.Close() }
func (t memTransport) raftTransport() raft.Transport { return t.ep.Raft() }

// stopRaft implements Transport: nothing to do, an in-memory RPC ends
// within the network's RPC timeout, and a pipeline's blocked send is ended
// by contactTransport.stop.
func (t memTransport) stopRaft() {}

func (t memTransport) serve(h forwardHandler, _ func(string) string) {
	t.ep.Serve(memraft.Handler(h))
}

func (t memTransport) forward(ctx context.Context, addr string, req []byte) ([]byte, error) {
	return t.ep.Forward(ctx, addr, req)
}

// peerGone implements Transport (see memraft.Endpoint.PeerGone).
func (t memTransport) peerGone(_ context.Context, addr string) bool { return t.ep.PeerGone(addr) }
