package raftcluster

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventWriterChanged: Member is the new writer, Epoch its epoch.
	EventWriterChanged EventKind = iota + 1
	// EventMemberJoined: Member joined (as a non-voting copier).
	EventMemberJoined
	// EventMemberLeft: Member left or was removed.
	EventMemberLeft
	// EventMemberExcluded: Member was excluded in Epoch; the writer no
	// longer waits for it, and it must reset before it rejoins.
	EventMemberExcluded
	// EventMemberRejoined: an excluded Member reset and rejoined.
	EventMemberRejoined
	// EventMemberPromoted: Member became a Raft voter.
	EventMemberPromoted
	// EventResetStarted: Member was granted the cluster's reset slot.
	EventResetStarted
	// EventResetDone: Member finished its reset and released the slot.
	EventResetDone
	// EventMemberDemoted: Member, a voter that the leader could not reach
	// for DeadVoterAfter, became a non-voter (it is promoted again once it
	// is back and caught up).
	EventMemberDemoted
)

func (k EventKind) String() string {
	switch k {
	case EventWriterChanged:
		return "WriterChanged"
	case EventMemberJoined:
		return "MemberJoined"
	case EventMemberLeft:
		return "MemberLeft"
	case EventMemberExcluded:
		return "MemberExcluded"
	case EventMemberRejoined:
		return "MemberRejoined"
	case EventMemberPromoted:
		return "MemberPromoted"
	case EventResetStarted:
		return "ResetStarted"
	case EventResetDone:
		return "ResetDone"
	case EventMemberDemoted:
		return "MemberDemoted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change of the replicated cluster state, as applied on this
// node. Events arrive in log order.
type Event struct {
	Kind EventKind
	// Index is the Raft log index of the entry that caused the event (for
	// an initial-state event, the index the state was read at).
	Index uint64
	// Epoch is the writer epoch in force after the event.
	Epoch uint64
	// Member is the member concerned, as it is after the event (as it was
	// before, for EventMemberLeft).
	Member Member
	// Initial marks the events that describe the state at Subscribe time.
	Initial bool
}

func (e Event) String() string {
	return fmt.Sprintf("%s{%s epoch=%d index=%d}", e.Kind, e.Member.ID, e.Epoch, e.Index)
}

// Subscription delivers events to one subscriber on its own channel. When
// the channel is full, events are dropped (never blocking Raft) and
// counted; Dropped tells how many. A subscriber that sees Dropped grow
// should re-read Node.State.
//
// Concurrency: all methods are safe for concurrent use.
type Subscription struct {
	ch      chan Event
	dropped atomic.Uint64
	hub     *hub
}

// C returns the channel on which events arrive. It is closed by
// Unsubscribe and by Node.Shutdown.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns the number of events dropped because the channel was
// full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Unsubscribe stops delivery and closes the channel. It is idempotent.
func (s *Subscription) Unsubscribe() { s.hub.remove(s) }

// hub fans events out to subscriptions.
type hub struct {
	// mu guards subs and closed.
	mu struct {
		sync.Mutex
		subs   map[*Subscription]struct{}
		closed bool
	}
}

func newHub() *hub {
	h := &hub{}
	h.mu.subs = make(map[*Subscription]struct{})
	return h
}

// add registers a subscription whose channel holds max(buf, len(initial))
// events; the initial ones are queued first and never dropped.
func (h *hub) add(buf int, initial []Event) *Subscription {
	s := &Subscription{ch: make(chan Event, max(buf, len(initial))), hub: h}
	for _, ev := range initial {
		s.ch <- ev
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		close(s.ch)
		return s
	}
	h.mu.subs[s] = struct{}{}
	return s
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.mu.subs[s]; ok {
		delete(h.mu.subs, s)
		close(s.ch)
	}
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.mu.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.closed = true
	for s := range h.mu.subs {
		delete(h.mu.subs, s)
		close(s.ch)
	}
}
