package raftcluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Transport carries Raft's RPCs between members and the few control
// requests that a follower forwards to the leader (join, leave, overlay
// reports, reset done, rejoin, membership checks). Its implementations
// are *TLSTransport (production: TCP with mutual TLS 1.3, every peer
// authenticated as the member its certificate names) and *MemTransport
// (tests: no authentication).
//
// The interface is sealed: only this package implements it.
type Transport interface {
	// Addr returns the address other members reach this node at.
	Addr() string
	// Close releases the transport. Node.Shutdown calls it.
	Close() error

	raftTransport() raft.Transport
	forward(ctx context.Context, addr string, req []byte) ([]byte, error)
	// serve installs the handler of forwarded requests, and memberAt,
	// which names the member expected at a Raft address ("" if none):
	// an authenticating transport refuses a Raft connection to an
	// address whose peer's certificate names another member.
	serve(h forwardHandler, memberAt func(addr string) string)
	// peerGone reports whether nothing listens at a member's Raft address
	// any more (its process is gone): a refused connection, not a slow or
	// silent one.
	peerGone(ctx context.Context, addr string) bool
}

// forwardHandler serves a forwarded request. caller is the member ID that
// the caller's certificate names; "" on a transport that does not
// authenticate (MemTransport), where no identity check applies.
type forwardHandler func(ctx context.Context, caller string, req []byte) ([]byte, error)

// Forwarded replies: a status byte, then a payload.
const (
	replyOK        = 0 // payload: none
	replyNotLeader = 1 // payload: leader ID, leader address (uvarint-prefixed strings)
	replyError     = 2 // payload: error code byte, message
)

// Error codes in replyError, so that sentinels survive the hop.
const (
	codeOther byte = iota
	codeRejected
	codeUnknownMember
	codeOutcomeUnknown
	codeBadCommand
	codeExcluded
	codeShutdown
	codeIdentity
)

var codeSentinels = map[byte]error{
	codeRejected:       ErrRejected,
	codeUnknownMember:  ErrUnknownMember,
	codeOutcomeUnknown: ErrOutcomeUnknown,
	codeBadCommand:     ErrBadCommand,
	codeExcluded:       ErrExcluded,
	codeShutdown:       ErrShutdown,
	codeIdentity:       ErrIdentity,
}

func encodeReply(err error) []byte {
	if err == nil {
		return []byte{replyOK}
	}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		b := []byte{replyNotLeader}
		b = binary.AppendUvarint(b, uint64(len(nl.LeaderID)))
		b = append(b, nl.LeaderID...)
		b = binary.AppendUvarint(b, uint64(len(nl.LeaderAddr)))
		return append(b, nl.LeaderAddr...)
	}
	code := codeOther
	for c, s := range codeSentinels {
		if errors.Is(err, s) {
			code = c
			break
		}
	}
	return append([]byte{replyError, code}, trimPrefix(err.Error())...)
}

// remoteError is an error reported by the leader for a forwarded request.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return "raftcluster: leader: " + e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func decodeReply(op string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty reply", ErrBadCommand)
	}
	switch b[0] {
	case replyOK:
		return nil
	case replyNotLeader:
		d := decoder{b: b[1:]}
		id, addr := d.str(), d.str()
		if d.err != nil {
			return d.err
		}
		return &NotLeaderError{Op: op, LeaderID: id, LeaderAddr: addr}
	case replyError:
		if len(b) < 2 {
			return fmt.Errorf("%w: short error reply", ErrBadCommand)
		}
		return &remoteError{msg: string(b[2:]), sentinel: codeSentinels[b[1]]}
	}
	return fmt.Errorf("%w: reply status %d", ErrBadCommand, b[0])
}

// MemNetwork connects MemTransports in one process, for tests. It can cut
// and restore links between addresses to simulate partitions and paused
// nodes.
//
// Concurrency: all methods are safe for concurrent use.
type MemNetwork struct {
	// mu guards nodes, cut and hole.
	mu struct {
		sync.Mutex
		nodes map[string]*MemTransport
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

// NewMemNetwork returns an empty network. rpcTimeout bounds each in-memory
// Raft RPC (0 = 500ms, hashicorp/raft's default).
func NewMemNetwork(rpcTimeout time.Duration) *MemNetwork {
	if rpcTimeout <= 0 {
		rpcTimeout = 500 * time.Millisecond
	}
	n := &MemNetwork{timeout: rpcTimeout}
	n.mu.nodes = make(map[string]*MemTransport)
	n.mu.cut = make(map[[2]string]link)
	return n
}

// MemTransport is a Transport on a MemNetwork.
//
// Concurrency: safe for concurrent use.
type MemTransport struct {
	net   *MemNetwork
	addr  string
	inmem *raft.InmemTransport

	// mu guards handler and closed.
	mu struct {
		sync.Mutex
		handler forwardHandler
		closed  bool
	}
}

var (
	_ Transport = (*MemTransport)(nil)
	_ Transport = (*TLSTransport)(nil)
)

// NewTransport returns a transport at addr, connected to every other open
// transport except across cut links. A transport already open at addr is
// closed and replaced (a restarted node).
func (n *MemNetwork) NewTransport(addr string) *MemTransport {
	_, in := raft.NewInmemTransportWithTimeout(raft.ServerAddress(addr), n.timeout)
	t := &MemTransport{net: n, addr: addr, inmem: in}
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
func (n *MemNetwork) rewire() {
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
func (n *MemNetwork) Cut(a, b string) {
	n.mu.Lock()
	n.mu.cut[[2]string{a, b}] = linkCut
	n.mu.cut[[2]string{b, a}] = linkCut
	n.mu.Unlock()
	n.rewire()
}

// Isolate severs every link of a.
func (n *MemNetwork) Isolate(a string) {
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
func (n *MemNetwork) Partition(groups ...[]string) { n.partition(linkCut, groups) }

// PartitionDrop is Partition on a network that drops packets: an RPC or
// forwarded request across groups hangs until its timeout instead of
// failing at once (a firewall that drops, a cable pulled mid-stream). An
// RPC sent before Heal still times out after it.
func (n *MemNetwork) PartitionDrop(groups ...[]string) { n.partition(linkDrop, groups) }

func (n *MemNetwork) partition(l link, groups [][]string) {
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
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.mu.cut = make(map[[2]string]link)
	n.mu.Unlock()
	n.rewire()
}

// Connected reports whether a can reach b.
func (n *MemNetwork) Connected(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.mu.nodes[b]
	return ok && n.mu.cut[[2]string{a, b}] == 0
}

func (n *MemNetwork) linkState(a, b string) link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.cut[[2]string{a, b}]
}

// Addr implements Transport.
func (t *MemTransport) Addr() string { return t.addr }

// Close disconnects the transport from the network.
func (t *MemTransport) Close() error {
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

func (t *MemTransport) raftTransport() raft.Transport { return t.inmem }

// peerGone implements Transport: no open transport at addr (closed by its
// node's Shutdown). A cut link is not a gone peer.
func (t *MemTransport) peerGone(_ context.Context, addr string) bool {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	_, ok := t.net.mu.nodes[addr]
	return !ok
}

func (t *MemTransport) serve(h forwardHandler, _ func(string) string) {
	t.mu.Lock()
	t.mu.handler = h
	t.mu.Unlock()
}

func (t *MemTransport) forward(ctx context.Context, addr string, req []byte) ([]byte, error) {
	if t.net.linkState(t.addr, addr) == linkDrop {
		tm := newTimer(t.net.timeout)
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
