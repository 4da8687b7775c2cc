package memraft

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Handler serves a forwarded request; caller is "" (the in-process network
// authenticates no one).
type Handler func(ctx context.Context, caller string, req []byte) ([]byte, error)

// AsTransport wraps an Endpoint as a raftcluster.Transport. Package
// raftcluster sets it when it is initialized (its Transport interface is
// sealed, and this package cannot import it).
var AsTransport func(*Endpoint) any

// Network connects Endpoints in one process, for tests. It can cut and
// restore links between addresses to simulate partitions and paused nodes.
//
// Concurrency: all methods are safe for concurrent use.
type Network struct {
	// mu guards nodes, cut and hole.
	mu struct {
		sync.Mutex
		nodes map[string]*Endpoint
		cut   map[[2]string]link // severed links; both orders are stored
		// hole swallows the RPCs sent over dropped links: they wait for
		// the RPC timeout, as on a network that drops packets.
		hole *raft.InmemTransport
	}
	timeout time.Duration
}

// link is the state of a severed link.
type link uint8

const (
	linkCut  link = iota + 1 // refused at once, like a closed port
	linkDrop                 // RPCs hang until their timeout, like dropped packets
)

// NewNetwork returns an empty network. rpcTimeout bounds each in-memory
// Raft RPC (0 = 500ms, hashicorp/raft's default).
func NewNetwork(rpcTimeout time.Duration) *Network {
	if rpcTimeout <= 0 {
		rpcTimeout = 500 * time.Millisecond
	}
	n := &Network{timeout: rpcTimeout}
	n.mu.nodes = make(map[string]*Endpoint)
	n.mu.cut = make(map[[2]string]link)
	return n
}

// Endpoint is one member's attachment to a Network: its Raft transport and
// its forwarded requests.
//
// Concurrency: safe for concurrent use.
type Endpoint struct {
	net   *Network
	addr  string
	inmem *raft.InmemTransport

	// mu guards handler and closed.
	mu struct {
		sync.Mutex
		handler Handler
		closed  bool
	}
}

// NewEndpoint returns an endpoint at addr, connected to every other open
// transport except across cut links. A transport already open at addr is
// closed and replaced (a restarted node).
func (n *Network) NewEndpoint(addr string) *Endpoint {
	_, in := raft.NewInmemTransportWithTimeout(raft.ServerAddress(addr), n.timeout)
	t := &Endpoint{net: n, addr: addr, inmem: in}
	n.mu.Lock()
	old := n.mu.nodes[addr]
	n.mu.nodes[addr] = t
	n.mu.Unlock()
	if old != nil {
		old.Close()
	}
	n.rewire()
	return t
}

// rewire makes every pair of open transports connected unless cut.
func (n *Network) rewire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for a, ta := range n.mu.nodes {
		for b, tb := range n.mu.nodes {
			if a == b {
				continue
			}
			switch n.mu.cut[[2]string{a, b}] {
			case linkCut:
				ta.inmem.Disconnect(raft.ServerAddress(b))
			case linkDrop:
				if n.mu.hole == nil {
					// Never consumed: an RPC sent into it times out.
					_, n.mu.hole = raft.NewInmemTransportWithTimeout("blackhole", n.timeout)
				}
				ta.inmem.Connect(raft.ServerAddress(b), n.mu.hole)
			default:
				ta.inmem.Connect(raft.ServerAddress(b), tb.inmem)
			}
		}
	}
}

// Cut severs the link between a and b in both directions.
func (n *Network) Cut(a, b string) {
	n.mu.Lock()
	n.mu.cut[[2]string{a, b}] = linkCut
	n.mu.cut[[2]string{b, a}] = linkCut
	n.mu.Unlock()
	n.rewire()
}

// Isolate severs every link of a.
func (n *Network) Isolate(a string) {
	n.mu.Lock()
	for b := range n.mu.nodes {
		if b != a {
			n.mu.cut[[2]string{a, b}] = linkCut
			n.mu.cut[[2]string{b, a}] = linkCut
		}
	}
	n.mu.Unlock()
	n.rewire()
}

// Partition splits the network into the given groups: links inside a group
// work, links between groups are cut (refused at once). Addresses in no
// group keep their links.
func (n *Network) Partition(groups ...[]string) { n.partition(linkCut, groups) }

// PartitionDrop is Partition on a network that drops packets: an RPC or
// forwarded request across groups hangs until its timeout instead of
// failing at once (a firewall that drops, a cable pulled mid-stream). An
// RPC sent before Heal still times out after it.
func (n *Network) PartitionDrop(groups ...[]string) { n.partition(linkDrop, groups) }

func (n *Network) partition(l link, groups [][]string) {
	n.mu.Lock()
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.mu.cut[[2]string{a, b}] = l
				}
			}
		}
	}
	n.mu.Unlock()
	n.rewire()
}

// Heal restores every link.
func (n *Network) Heal() {
	n.mu.Lock()
	n.mu.cut = make(map[[2]string]link)
	n.mu.Unlock()
	n.rewire()
}

// Connected reports whether a can reach b.
func (n *Network) Connected(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.mu.nodes[b]
	return ok && n.mu.cut[[2]string{a, b}] == 0
}

func (n *Network) linkState(a, b string) link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.cut[[2]string{a, b}]
}

// Addr returns the endpoint's address.
func (t *Endpoint) Addr() string { return t.addr }

// Close disconnects the transport from the network.
func (t *Endpoint) Close() error {
	t.mu.Lock()
	t.mu.closed = true
	t.mu.Unlock()
	t.net.mu.Lock()
	if t.net.mu.nodes[t.addr] == t {
		delete(t.net.mu.nodes, t.addr)
	}
	for _, o := range t.net.mu.nodes {
		o.inmem.Disconnect(raft.ServerAddress(t.addr))
	}
	t.net.mu.Unlock()
	return t.inmem.Close()
}

// Raft returns the endpoint's Raft transport.
func (t *Endpoint) Raft() raft.Transport { return t.inmem }

// Serve installs the handler of requests forwarded to this endpoint.
func (t *Endpoint) Serve(h Handler) {
	t.mu.Lock()
	t.mu.handler = h
	t.mu.Unlock()
}

// Forward sends req to the endpoint at addr and returns its handler's
// answer: at once an error if the link is cut or addr does not serve, after
// the RPC timeout if the link drops packets.
func (t *Endpoint) Forward(ctx context.Context, addr string, req []byte) ([]byte, error) {
	if t.net.linkState(t.addr, addr) == linkDrop {
		tm := time.NewTimer(max(t.net.timeout, time.Millisecond))
		defer tm.Stop()
		select {
		case <-tm.C:
			return nil, fmt.Errorf("raftcluster: forward to %s: timed out", addr)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !t.net.Connected(t.addr, addr) {
		return nil, fmt.Errorf("raftcluster: forward to %s: unreachable", addr)
	}
	t.net.mu.Lock()
	peer := t.net.mu.nodes[addr]
	t.net.mu.Unlock()
	peer.mu.Lock()
	h, closed := peer.mu.handler, peer.mu.closed
	peer.mu.Unlock()
	if h == nil || closed {
		return nil, fmt.Errorf("raftcluster: forward to %s: not serving", addr)
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := h(ctx, "", req)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// PeerGone reports whether no endpoint is open at addr (closed by its
// node's Shutdown). A cut link is not a gone peer.
func (t *Endpoint) PeerGone(addr string) bool {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	_, ok := t.net.mu.nodes[addr]
	return !ok
}
