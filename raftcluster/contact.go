package raftcluster

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Contact is what this node observed of a member's reachability: the last
// answer it got from it. Only the leader talks to every member (it
// heartbeats each every Heartbeat/10 or so); a follower hears from the
// leader only, and observes no other member.
type Contact struct {
	// Observed is true for this node itself, for every member while this
	// node leads, and for the leader while this node follows.
	Observed bool
	// Reachable: observed, and heard from within Timeouts.Heartbeat (for
	// this node itself: always). A member the leader has just started to
	// lead is given Heartbeat to answer before it counts as unreachable.
	Reachable bool
	// Last is when this node last heard from the member (zero if never).
	Last time.Time
	// RTT is how long the last answered heartbeat took (leader only).
	RTT time.Duration
}

// contacts records, per member ID, the last AppendEntries (heartbeats
// included) that this node's Raft sent and got an answer to. It is a time,
// not a mark set by a failure and cleared by a recovery: hashicorp/raft
// reports a recovery only from the heartbeat goroutine that saw the
// failure, so a failure reported late by a goroutine of an earlier term
// would never be cleared.
//
// Concurrency: safe for concurrent use.
type contacts struct {
	mu sync.Mutex
	m  map[string]contact
}

type contact struct {
	at  time.Time
	rtt time.Duration
}

func (c *contacts) record(id string, at time.Time, rtt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]contact)
	}
	c.m[id] = contact{at: at, rtt: rtt}
}

func (c *contacts) get(id string) contact {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// contactTransport is the raft.Transport handed to hashicorp/raft: the
// member's transport, recording each answered AppendEntries, with its
// pipelines wrapped as contactPipelines.
//
// Concurrency: safe for concurrent use.
type contactTransport struct {
	raft.Transport
	c *contacts

	// mu guards pipes and stopped.
	mu struct {
		sync.Mutex
		pipes   map[*contactPipeline]struct{} // open pipelines
		stopped bool
	}
}

// AppendEntriesPipeline implements raft.Transport: the member transport's
// pipeline, as a contactPipeline.
func (t *contactTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	t.mu.Lock()
	stopped := t.mu.stopped
	t.mu.Unlock()
	if stopped {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	inner, err := t.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	var p *contactPipeline
	p = newContactPipeline(inner, func() {
		t.mu.Lock()
		delete(t.mu.pipes, p)
		t.mu.Unlock()
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		p.stop()
	} else {
		if t.mu.pipes == nil {
			t.mu.pipes = make(map[*contactPipeline]struct{})
		}
		t.mu.pipes[p] = struct{}{}
	}
	return p, nil
}

// stop makes every open pipeline's sends fail, and refuses new pipelines
// (Raft then replicates without one): Node.Shutdown calls it so that no
// replication goroutine stays blocked in a pipeline while Raft shuts down.
func (t *contactTransport) stop() {
	t.mu.Lock()
	t.mu.stopped = true
	pipes := slices.Collect(maps.Keys(t.mu.pipes))
	t.mu.Unlock()
	for _, p := range pipes {
		p.stop()
	}
}

var (
	_ raft.WithPreVote = (*contactTransport)(nil)
	_ raft.WithClose   = (*contactTransport)(nil)
)

func (t *contactTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	start := time.Now()
	err := t.Transport.AppendEntries(id, target, args, resp)
	if err == nil {
		now := time.Now()
		t.c.record(string(id), now, now.Sub(start))
	}
	return err
}

// RequestPreVote implements raft.WithPreVote (both member transports
// support pre-vote).
func (t *contactTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := t.Transport.(raft.WithPreVote)
	if !ok {
		return errors.New("raftcluster: transport does not support pre-vote")
	}
	return pv.RequestPreVote(id, target, args, resp)
}

// Close implements raft.WithClose.
func (t *contactTransport) Close() error {
	if c, ok := t.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// Contacts returns what this node observed of each member of its Raft
// configuration (see Contact).
func (n *Node) Contacts() map[string]Contact {
	now := time.Now()
	cf := n.raft.GetConfiguration().Configuration()
	leading := n.raft.State() == raft.Leader
	_, leaderID := n.raft.LeaderWithID()
	since := n.leadingSince()
	out := make(map[string]Contact, len(cf.Servers))
	for _, s := range cf.Servers {
		id := string(s.ID)
		switch {
		case id == n.id:
			out[id] = Contact{Observed: true, Reachable: true, Last: now}
		case leading:
			c := n.contacts.get(id)
			out[id] = Contact{Observed: true, Reachable: !n.unreachableAt(now, c.at, since),
				Last: c.at, RTT: c.rtt}
		case id == string(leaderID):
			last := n.raft.LastContact()
			out[id] = Contact{Observed: true, Reachable: !last.IsZero() && now.Sub(last) < n.cfg.Timeouts.Heartbeat, Last: last}
		default:
			out[id] = Contact{}
		}
	}
	return out
}

// leadingSince returns when this node began leading in the current term
// (the zero time if it does not lead, or its leader loop has not noted
// the term yet).
func (n *Node) leadingSince() time.Time {
	term := n.raft.CurrentTerm()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.leadingTerm != term {
		return time.Time{}
	}
	return n.mu.leadingSince
}

// noteLeading records the start of this node's leadership in term.
func (n *Node) noteLeading(term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.leadingTerm != term {
		n.mu.leadingTerm, n.mu.leadingSince = term, time.Now()
	}
}

// unreachableAt: a member last heard from at last, led since since, is
// unreachable at now when neither lies within Heartbeat of now. A zero
// since (leadership not noted yet) counts as now: the member has its
// grace.
func (n *Node) unreachableAt(now, last, since time.Time) bool {
	if since.IsZero() {
		return false
	}
	return now.Sub(last) >= n.cfg.Timeouts.Heartbeat && now.Sub(since) >= n.cfg.Timeouts.Heartbeat
}

// unreachable returns, while this node leads, the members of the Raft
// configuration it has not heard from within Heartbeat (see Contact), each
// with the time since which it has not: its last contact, or the start of
// this leadership if later. Empty on a follower.
func (n *Node) unreachable() map[string]time.Time {
	out := map[string]time.Time{}
	if n.raft.State() != raft.Leader {
		return out
	}
	now := time.Now()
	since := n.leadingSince()
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		id := string(s.ID)
		if id == n.id {
			continue
		}
		c := n.contacts.get(id)
		if n.unreachableAt(now, c.at, since) {
			out[id] = latest(c.at, since)
		}
	}
	return out
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
