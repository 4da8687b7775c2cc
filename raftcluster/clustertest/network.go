package clustertest

import (
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/internal/memraft"
)

// RaftNetwork connects raftcluster members in one process: Raft RPCs and
// the requests a follower forwards to the leader, with no authentication.
// It can cut and restore links between addresses to simulate partitions
// and paused nodes.
//
// Concurrency: all methods are safe for concurrent use.
type RaftNetwork struct{ net *memraft.Network }

// NewRaftNetwork returns an empty network. rpcTimeout bounds each Raft RPC
// and forwarded request over a dropping link (0 = 500ms, hashicorp/raft's
// default).
func NewRaftNetwork(rpcTimeout time.Duration) *RaftNetwork {
	return &RaftNetwork{memraft.NewNetwork(rpcTimeout)}
}

// NewTransport returns a transport at addr for raftcluster.Config,
// connected to every other open transport except across cut links. A
// transport already open at addr is closed and replaced (a restarted node).
func (n *RaftNetwork) NewTransport(addr string) raftcluster.Transport {
	return memraft.AsTransport(n.net.NewEndpoint(addr)).(raftcluster.Transport)
}

// Cut severs the link between a and b in both directions: RPCs fail at once.
func (n *RaftNetwork) Cut(a, b string) { n.net.Cut(a, b) }

// Isolate severs every link of a.
func (n *RaftNetwork) Isolate(a string) { n.net.Isolate(a) }

// Partition splits the network into the given groups: links inside a group
// work, links between groups are cut (refused at once). Addresses in no
// group keep their links.
func (n *RaftNetwork) Partition(groups ...[]string) { n.net.Partition(groups...) }

// PartitionDrop is Partition on a network that drops packets: an RPC or
// forwarded request across groups hangs until its timeout instead of
// failing at once. An RPC sent before Heal still times out after it.
func (n *RaftNetwork) PartitionDrop(groups ...[]string) { n.net.PartitionDrop(groups...) }

// Heal restores every link.
func (n *RaftNetwork) Heal() { n.net.Heal() }

// Connected reports whether a can reach b.
func (n *RaftNetwork) Connected(a, b string) bool { return n.net.Connected(a, b) }
