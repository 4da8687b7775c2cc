package stabilitytest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/internal/wire"
)

// Network is an in-process network of stability nodes for tests (a
// stability.Transport per node), with fault injection:
// message loss, delay and partitions. Every message goes through the wire
// encoding (and back), so the in-process transport exercises the codecs.
// Fates are drawn from a random source per directed pair of nodes, seeded
// from the network's seed, so a run is reproducible given the same order
// of messages on each pair. It uses no real network and only timers, so it
// works inside testing/synctest bubbles.
//
// A lost request or answer is never delivered: the caller waits until its
// context is done and gets an error wrapping stability.ErrUnreachable.
//
// Concurrency: safe for concurrent use.
type Network struct {
	seed uint64
	// mu guards the nodes and the fault settings.
	mu struct {
		sync.Mutex
		nodes    map[string]memNode // by address
		rngs     map[[2]string]*rand.Rand
		drop     float64
		minDelay time.Duration
		maxDelay time.Duration
		cut      map[[2]string]bool // unordered pairs, sorted
		isolated map[string]bool
	}
}

// NewNetwork returns an empty network.
func NewNetwork(seed uint64) *Network {
	n := &Network{seed: seed}
	n.mu.nodes = make(map[string]memNode)
	n.mu.rngs = make(map[[2]string]*rand.Rand)
	n.mu.cut = make(map[[2]string]bool)
	n.mu.isolated = make(map[string]bool)
	return n
}

type memNode struct {
	id string
	h  stability.Handler
}

// Listen attaches node id with handler h at the address id (replacing any
// previous one).
func (n *Network) Listen(id string, h stability.Handler) { n.ListenAt(id, id, h) }

// ListenAt attaches node id with handler h at address addr. A Dial of a
// stability.Peer whose ID is not the ID listening at its address fails with
// stability.ErrIdentity, as a TLS handshake would.
func (n *Network) ListenAt(addr, id string, h stability.Handler) {
	n.mu.Lock()
	n.mu.nodes[addr] = memNode{id, h}
	n.mu.Unlock()
}

// Unlisten detaches the node at addr: messages to it are lost.
func (n *Network) Unlisten(addr string) {
	n.mu.Lock()
	delete(n.mu.nodes, addr)
	n.mu.Unlock()
}

// SetLoss sets the probability that any one message is lost.
func (n *Network) SetLoss(p float64) {
	n.mu.Lock()
	n.mu.drop = p
	n.mu.Unlock()
}

// SetDelay makes every message take a uniform random time in [lo, hi].
func (n *Network) SetDelay(lo, hi time.Duration) {
	n.mu.Lock()
	n.mu.minDelay, n.mu.maxDelay = lo, max(lo, hi)
	n.mu.Unlock()
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Partition cuts the link between a and b (both directions).
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	n.mu.cut[pair(a, b)] = true
	n.mu.Unlock()
}

// Isolate cuts every link of id, as if it died or lost its network.
func (n *Network) Isolate(id string) {
	n.mu.Lock()
	n.mu.isolated[id] = true
	n.mu.Unlock()
}

// Heal removes every partition and isolation (loss and delay stay).
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.mu.cut)
	clear(n.mu.isolated)
	n.mu.Unlock()
}

// fate decides whether a message from node from to node to (at address
// addr, for a request) is delivered and after how long. Partitions and
// isolation are by node ID.
func (n *Network) fate(from, to, addr string, request bool) (stability.Handler, bool, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := [2]string{from, to}
	rng := n.mu.rngs[k]
	if rng == nil {
		h := fnv.New64a()
		h.Write([]byte(from + "\x00" + to))
		rng = rand.New(rand.NewPCG(n.seed, h.Sum64()))
		n.mu.rngs[k] = rng
	}
	lost := rng.Float64() < n.mu.drop
	d := n.mu.minDelay
	if n.mu.maxDelay > n.mu.minDelay {
		d += time.Duration(rng.Int64N(int64(n.mu.maxDelay - n.mu.minDelay + 1)))
	}
	var h stability.Handler
	if request {
		if node, ok := n.mu.nodes[addr]; ok && node.id == to {
			h = node.h
		}
	}
	ok := (h != nil || !request) && !lost && !n.mu.cut[pair(from, to)] && !n.mu.isolated[from] && !n.mu.isolated[to]
	return h, ok, d
}

// travel waits out a message's delay and reports whether it arrives.
func (n *Network) travel(ctx context.Context, from, to, addr string, request bool) (stability.Handler, error) {
	h, ok, d := n.fate(from, to, addr, request)
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %s → %s: %v", stability.ErrUnreachable, from, to, ctx.Err())
		}
	}
	if !ok {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %s → %s: message lost: %v", stability.ErrUnreachable, from, to, ctx.Err())
	}
	return h, nil
}

// Transport returns node self's stability.Transport.
func (n *Network) Transport(self string) stability.Transport { return memTransport{n, self} }

type memTransport struct {
	n    *Network
	self string
}

func (t memTransport) Dial(p stability.Peer) (stability.Conn, error) {
	if err := wire.ValidID(p.ID); err != nil {
		return nil, err
	}
	addr := p.Addr
	if addr == "" {
		addr = p.ID
	}
	t.n.mu.Lock()
	node, ok := t.n.mu.nodes[addr]
	t.n.mu.Unlock()
	if ok && node.id != p.ID {
		return nil, fmt.Errorf("%w: dialed %q at %s, found %q", stability.ErrIdentity, p.ID, addr, node.id)
	}
	return &memConn{n: t.n, from: t.self, to: p.ID, addr: addr}, nil
}

type memConn struct {
	n              *Network
	from, to, addr string
}

func (c *memConn) Preserve(ctx context.Context, req *stability.PreserveRequest) (*stability.PreserveResponse, error) {
	b, err := (*wire.PreserveRequest)(req).Marshal()
	if err != nil {
		return nil, err
	}
	h, err := c.n.travel(ctx, c.from, c.to, c.addr, true)
	if err != nil {
		return nil, err
	}
	in, err := wire.DecodePreserveRequest(b)
	if err != nil {
		return nil, err
	}
	resp := h.HandlePreserve(ctx, c.from, (*stability.PreserveRequest)(in))
	if b, err = (*wireResponse)(resp).Marshal(); err != nil {
		return nil, err
	}
	if _, err := c.n.travel(ctx, c.to, c.from, "", false); err != nil {
		return nil, err
	}
	out, err := wire.DecodePreserveResponse[stability.Code](b)
	return (*stability.PreserveResponse)(out), err
}

func (c *memConn) Reset(ctx context.Context) (stability.ResetStream, error) {
	h, err := c.n.travel(ctx, c.from, c.to, c.addr, true)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	toServer := make(chan []byte, 8)
	toClient := make(chan []byte, 8)
	client := &memStream{n: c.n, ctx: sctx, from: c.from, to: c.to, out: toServer, in: toClient}
	server := &memStream{n: c.n, ctx: sctx, from: c.to, to: c.from, out: toClient, in: toServer}
	go func() {
		defer cancel()
		h.HandleReset(sctx, c.from, server)
	}()
	return client, nil
}

func (c *memConn) Close() error { return nil }

// memStream is one end of an in-process reset stream. Frames that are lost
// are never delivered; the receiver's Recv waits for the stream's context.
type memStream struct {
	n        *Network
	ctx      context.Context
	from, to string
	out      chan<- []byte
	in       <-chan []byte
}

func (s *memStream) Send(f *stability.ResetFrame) error {
	b, err := (*wireFrame)(f).Marshal()
	if err != nil {
		return err
	}
	_, ok, d := s.n.fate(s.from, s.to, "", false)
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %v", stability.ErrUnreachable, s.ctx.Err())
		}
	}
	if !ok {
		return nil // lost on the way
	}
	select {
	case s.out <- b:
		return nil
	case <-s.ctx.Done():
		return fmt.Errorf("%w: %v", stability.ErrUnreachable, s.ctx.Err())
	}
}

func (s *memStream) Recv() (*stability.ResetFrame, error) {
	select {
	case b := <-s.in:
		return decodeFrame(b)
	case <-s.ctx.Done():
		select { // frames that arrived before the end are still delivered
		case b := <-s.in:
			return decodeFrame(b)
		default:
		}
		return nil, fmt.Errorf("%w: %v", stability.ErrUnreachable, s.ctx.Err())
	}
}

// The wire forms of stability's messages.
type (
	wireResponse = wire.PreserveResponse[stability.Code]
	wireFrame    = wire.ResetFrame[stability.FrameType, stability.Code]
)

func decodeFrame(b []byte) (*stability.ResetFrame, error) {
	f, err := wire.DecodeResetFrame[stability.FrameType, stability.Code](b)
	return (*stability.ResetFrame)(f), err
}
