package stability

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// MemNetwork is an in-process network for tests, with fault injection:
// message loss, delay and partitions. Every message goes through the wire
// encoding (and back), so the in-process transport exercises the codecs.
// Fates are drawn from a random source per directed pair of nodes, seeded
// from the network's seed, so a run is reproducible given the same order
// of messages on each pair. It uses no real network and only timers, so it
// works inside testing/synctest bubbles.
//
// A lost request or answer is never delivered: the caller waits until its
// context is done and gets an error wrapping ErrUnreachable.
//
// Concurrency: safe for concurrent use.
type MemNetwork struct {
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

// NewMemNetwork returns an empty network.
func NewMemNetwork(seed uint64) *MemNetwork {
	n := &MemNetwork{seed: seed}
	n.mu.nodes = make(map[string]memNode)
	n.mu.rngs = make(map[[2]string]*rand.Rand)
	n.mu.cut = make(map[[2]string]bool)
	n.mu.isolated = make(map[string]bool)
	return n
}

type memNode struct {
	id string
	h  Handler
}

// Listen attaches node id with handler h at the address id (replacing any
// previous one).
func (n *MemNetwork) Listen(id string, h Handler) { n.ListenAt(id, id, h) }

// ListenAt attaches node id with handler h at address addr. A Dial of a
// Peer whose ID is not the ID listening at its address fails with
// ErrIdentity, as a TLS handshake would.
func (n *MemNetwork) ListenAt(addr, id string, h Handler) {
	n.mu.Lock()
	n.mu.nodes[addr] = memNode{id, h}
	n.mu.Unlock()
}

// Unlisten detaches the node at addr: messages to it are lost.
func (n *MemNetwork) Unlisten(addr string) {
	n.mu.Lock()
	delete(n.mu.nodes, addr)
	n.mu.Unlock()
}

// SetLoss sets the probability that any one message is lost.
func (n *MemNetwork) SetLoss(p float64) {
	n.mu.Lock()
	n.mu.drop = p
	n.mu.Unlock()
}

// SetDelay makes every message take a uniform random time in [lo, hi].
func (n *MemNetwork) SetDelay(lo, hi time.Duration) {
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
func (n *MemNetwork) Partition(a, b string) {
	n.mu.Lock()
	n.mu.cut[pair(a, b)] = true
	n.mu.Unlock()
}

// Isolate cuts every link of id, as if it died or lost its network.
func (n *MemNetwork) Isolate(id string) {
	n.mu.Lock()
	n.mu.isolated[id] = true
	n.mu.Unlock()
}

// Heal removes every partition and isolation (loss and delay stay).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.mu.cut)
	clear(n.mu.isolated)
	n.mu.Unlock()
}

// fate decides whether a message from node from to node to (at address
// addr, for a request) is delivered and after how long. Partitions and
// isolation are by node ID.
func (n *MemNetwork) fate(from, to, addr string, request bool) (Handler, bool, time.Duration) {
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
	var h Handler
	if request {
		if node, ok := n.mu.nodes[addr]; ok && node.id == to {
			h = node.h
		}
	}
	ok := (h != nil || !request) && !lost && !n.mu.cut[pair(from, to)] && !n.mu.isolated[from] && !n.mu.isolated[to]
	return h, ok, d
}

// travel waits out a message's delay and reports whether it arrives.
func (n *MemNetwork) travel(ctx context.Context, from, to, addr string, request bool) (Handler, error) {
	h, ok, d := n.fate(from, to, addr, request)
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %s → %s: %v", ErrUnreachable, from, to, ctx.Err())
		}
	}
	if !ok {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %s → %s: message lost: %v", ErrUnreachable, from, to, ctx.Err())
	}
	return h, nil
}

// Transport returns node self's transport.
func (n *MemNetwork) Transport(self string) Transport { return memTransport{n, self} }

type memTransport struct {
	n    *MemNetwork
	self string
}

func (t memTransport) Dial(p Peer) (Conn, error) {
	if err := validID(p.ID); err != nil {
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
		return nil, fmt.Errorf("%w: dialed %q at %s, found %q", ErrIdentity, p.ID, addr, node.id)
	}
	return &memConn{n: t.n, from: t.self, to: p.ID, addr: addr}, nil
}

type memConn struct {
	n              *MemNetwork
	from, to, addr string
}

func (c *memConn) Preserve(ctx context.Context, req *PreserveRequest) (*PreserveResponse, error) {
	b, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	h, err := c.n.travel(ctx, c.from, c.to, c.addr, true)
	if err != nil {
		return nil, err
	}
	in, err := DecodePreserveRequest(b)
	if err != nil {
		return nil, err
	}
	resp := h.HandlePreserve(ctx, c.from, in)
	if b, err = resp.MarshalBinary(); err != nil {
		return nil, err
	}
	if _, err := c.n.travel(ctx, c.to, c.from, "", false); err != nil {
		return nil, err
	}
	return DecodePreserveResponse(b)
}

func (c *memConn) Reset(ctx context.Context) (ResetStream, error) {
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
	n        *MemNetwork
	ctx      context.Context
	from, to string
	out      chan<- []byte
	in       <-chan []byte
}

func (s *memStream) Send(f *ResetFrame) error {
	b, err := f.MarshalBinary()
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
			return fmt.Errorf("%w: %v", ErrUnreachable, s.ctx.Err())
		}
	}
	if !ok {
		return nil // lost on the way
	}
	select {
	case s.out <- b:
		return nil
	case <-s.ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnreachable, s.ctx.Err())
	}
}

func (s *memStream) Recv() (*ResetFrame, error) {
	select {
	case b := <-s.in:
		return DecodeResetFrame(b)
	case <-s.ctx.Done():
		select { // frames that arrived before the end are still delivered
		case b := <-s.in:
			return DecodeResetFrame(b)
		default:
		}
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, s.ctx.Err())
	}
}
