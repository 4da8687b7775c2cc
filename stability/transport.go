package stability

import (
	"context"
	"sync/atomic"
)

// Peer names a node: its ID (equal to the identity in its certificate) and
// the address the transport dials.
type Peer struct {
	ID   string
	Addr string
}

// Transport connects to peers. Implementations: GRPCTransport (TCP with
// mutual TLS) and, for tests, stabilitytest.Network (in process, with fault
// injection).
//
// Concurrency: safe for concurrent use.
type Transport interface {
	// Dial returns a connection to peer. It may connect lazily; a Conn
	// only ever talks to a node authenticated as peer.ID.
	Dial(peer Peer) (Conn, error)
}

// Conn is a client connection to one peer.
//
// Concurrency: safe for concurrent use.
type Conn interface {
	// Preserve sends a round or heartbeat and waits for the answer. A
	// transport failure returns an error; a refusal arrives as a response
	// with a non-OK Code.
	Preserve(ctx context.Context, req *PreserveRequest) (*PreserveResponse, error)
	// Reset opens a reset handshake stream to the writer. Cancelling ctx
	// aborts the stream.
	Reset(ctx context.Context) (ResetStream, error)
	// Close releases the connection.
	Close() error
}

// ResetStream carries one reset handshake. Send and Recv may be called
// concurrently with each other, but not with themselves.
type ResetStream interface {
	Send(*ResetFrame) error
	Recv() (*ResetFrame, error)
}

// Handler serves requests that arrive at a node. from is the sender's
// authenticated identity. Mux is the usual implementation.
type Handler interface {
	HandlePreserve(ctx context.Context, from string, req *PreserveRequest) *PreserveResponse
	HandleReset(ctx context.Context, from string, s ResetStream) error
}

// Mux routes requests to a node's current roles: rounds to its Responder
// (while it is a copier), resets to its Coordinator (while it is the
// writer). The zero Mux refuses everything with CodeNotServing.
//
// Concurrency: safe for concurrent use; roles may be swapped at any time.
type Mux struct {
	copier atomic.Pointer[Responder]
	writer atomic.Pointer[Coordinator]
}

var _ Handler = (*Mux)(nil)

// SetResponder sets (or, with nil, clears) the copier role.
func (m *Mux) SetResponder(r *Responder) { m.copier.Store(r) }

// SetCoordinator sets (or, with nil, clears) the writer role.
func (m *Mux) SetCoordinator(c *Coordinator) { m.writer.Store(c) }

// HandlePreserve implements Handler.
func (m *Mux) HandlePreserve(ctx context.Context, from string, req *PreserveRequest) *PreserveResponse {
	r := m.copier.Load()
	if r == nil {
		return &PreserveResponse{Seq: req.Seq, Code: CodeNotServing, Detail: "not a copier"}
	}
	return r.HandlePreserve(ctx, from, req)
}

// HandleReset implements Handler.
func (m *Mux) HandleReset(ctx context.Context, from string, s ResetStream) error {
	c := m.writer.Load()
	if c == nil {
		return refuseReset(s, 0, CodeNotServing, "not the writer")
	}
	return c.HandleReset(ctx, from, s)
}

func refuseReset(s ResetStream, epoch uint64, code Code, detail string) error {
	err := code.Err(detail)
	if serr := s.Send(&ResetFrame{Type: FrameDone, Epoch: epoch, Code: code, Detail: detail}); serr != nil {
		return serr
	}
	return err
}
