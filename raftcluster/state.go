package raftcluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/holeycow/holeycow/cow"
)

// Suffrage is a member's Raft vote.
type Suffrage uint8

const (
	// Nonvoter members receive the log but do not vote. Members join as
	// non-voters and are promoted by the leader.
	Nonvoter Suffrage = iota + 1
	// Voter members vote and count towards quorum.
	Voter
)

func (s Suffrage) String() string {
	switch s {
	case Nonvoter:
		return "nonvoter"
	case Voter:
		return "voter"
	}
	return fmt.Sprintf("Suffrage(%d)", uint8(s))
}

// Role is a member's storage role: the same values as the cow view it
// runs (cow.RoleWriter for the one member per epoch that writes shared
// storage, cow.RoleCopier for members with a private overlay).
type Role = cow.Role

// The storage roles, as in package cow.
const (
	RoleCopier = cow.RoleCopier
	RoleWriter = cow.RoleWriter
)

// Member is one node as the replicated cluster state records it.
type Member struct {
	ID            string
	RaftAddr      string
	StabilityAddr string
	Suffrage      Suffrage
	Role          Role
	// Generation is the cluster generation at which this member last
	// started from a fresh view of shared storage (joined, rejoined after
	// exclusion, finished a reset, or stepped down as writer). The writer's stable set for this
	// member is valid only within one generation.
	Generation uint64
	// OverlayBytes is the member's last reported overlay size, and
	// ReportedIndex the applied index it reported with it (0 = not since
	// the member last started from a fresh view: a join, a rejoin, a
	// finished reset or a step-down as writer zero both, and the member
	// reports again; until then it is no candidate for writer).
	OverlayBytes  int64
	ReportedIndex uint64
	// FreshIndex is the log index of the entry at which the member last
	// started from a fresh view (its JoinIndex until a rejoin, a finished
	// reset or a step-down as writer). A report made before it (applied
	// index below FreshIndex, sent before the member applied its fresh
	// start and delivered after) describes the old view and is rejected.
	FreshIndex uint64
	// Excluded is set when the writer stopped waiting for this member (in
	// ExcludedEpoch, by the entry at ExcludedIndex). The member must reset
	// and rejoin before it serves reads again; its Rejoin names
	// ExcludedIndex, so a Rejoin that answers an earlier exclusion (sent
	// again after the member was excluded anew) is rejected.
	Excluded      bool
	ExcludedEpoch uint64
	ExcludedIndex uint64
	// JoinIndex is the log index of the entry that added the member.
	JoinIndex uint64
}

// WriterTerm records that ID became the writer of Epoch at log Index.
type WriterTerm struct {
	Epoch uint64
	ID    string
	Index uint64
}

// maxHistory bounds State.History; older terms are dropped first.
const maxHistory = 1024

// State is the replicated cluster state (the FSM's, without the
// application's). Every node applies the same commands in the same order,
// so equal Index means equal State.
type State struct {
	// Index is the last log index applied to this state.
	Index uint64
	// Writer is the member ID of the current writer ("" = none yet, or the
	// writer left) and Epoch its epoch. Epochs grow by one per SetWriter.
	Writer string
	Epoch  uint64
	// Generation grows whenever the set of copiers that the writer must
	// wait for changes (join, leave, exclusion, rejoin, reset done).
	Generation uint64
	// Resetting is the member holding the cluster's single reset slot,
	// granted by the entry at ResettingIndex; its ResetDone names that
	// index, so a late ResetDone of an earlier grant cannot free a later
	// one.
	Resetting      string
	ResettingIndex uint64
	// Members sorted by ID.
	Members []Member
	// History of writer terms, oldest first, at most maxHistory long.
	History []WriterTerm
}

// Member returns the member with the given ID.
func (s State) Member(id string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(s.Members, id, func(m Member, id string) int { return strings.Compare(m.ID, id) })
	if !ok {
		return Member{}, false
	}
	return s.Members[i], true
}

func (s *State) member(id string) *Member {
	i, ok := slices.BinarySearchFunc(s.Members, id, func(m Member, id string) int { return strings.Compare(m.ID, id) })
	if !ok {
		return nil
	}
	return &s.Members[i]
}

// Copiers returns the members that the writer must wait for: every member
// but the writer that is not excluded.
func (s State) Copiers() []Member {
	var out []Member
	for _, m := range s.Members {
		if m.ID != s.Writer && !m.Excluded {
			out = append(out, m)
		}
	}
	return out
}

// Clone returns a deep copy.
func (s *State) Clone() State {
	c := *s
	c.Members = slices.Clone(s.Members)
	c.History = slices.Clone(s.History)
	return c
}

// Check verifies the state's invariants: members sorted and unique, one
// writer with RoleWriter, epochs in History strictly increasing by one and
// ending at Epoch, the reset slot held by a non-excluded copier.
func (s *State) Check() error {
	var errs []error
	for i, m := range s.Members {
		if m.ID == "" {
			errs = append(errs, errors.New("member with empty ID"))
		}
		if i > 0 && s.Members[i-1].ID >= m.ID {
			errs = append(errs, fmt.Errorf("members not sorted/unique at %q", m.ID))
		}
		wantRole := RoleCopier
		if m.ID == s.Writer {
			wantRole = RoleWriter
		}
		if m.Role != wantRole {
			errs = append(errs, fmt.Errorf("member %q has role %s, want %s", m.ID, m.Role, wantRole))
		}
		if m.Suffrage != Voter && m.Suffrage != Nonvoter {
			errs = append(errs, fmt.Errorf("member %q has suffrage %d", m.ID, m.Suffrage))
		}
		if m.Generation > s.Generation {
			errs = append(errs, fmt.Errorf("member %q generation %d > cluster generation %d", m.ID, m.Generation, s.Generation))
		}
	}
	if s.Writer != "" {
		if w := s.member(s.Writer); w == nil {
			errs = append(errs, fmt.Errorf("writer %q is not a member", s.Writer))
		} else if w.Excluded {
			errs = append(errs, fmt.Errorf("writer %q is excluded", s.Writer))
		}
	}
	for i, h := range s.History {
		if i > 0 && h.Epoch != s.History[i-1].Epoch+1 {
			errs = append(errs, fmt.Errorf("history epoch %d follows %d", h.Epoch, s.History[i-1].Epoch))
		}
		if i > 0 && h.Index <= s.History[i-1].Index {
			errs = append(errs, fmt.Errorf("history index %d follows %d", h.Index, s.History[i-1].Index))
		}
	}
	if n := len(s.History); n > 0 && s.History[n-1].Epoch != s.Epoch {
		errs = append(errs, fmt.Errorf("history ends at epoch %d, state epoch %d", s.History[n-1].Epoch, s.Epoch))
	}
	if len(s.History) > maxHistory {
		errs = append(errs, fmt.Errorf("history has %d terms, max %d", len(s.History), maxHistory))
	}
	if (s.Resetting == "") != (s.ResettingIndex == 0) {
		errs = append(errs, fmt.Errorf("reset slot holder %q with grant index %d", s.Resetting, s.ResettingIndex))
	}
	for _, m := range s.Members {
		if m.Excluded != (m.ExcludedIndex != 0) {
			errs = append(errs, fmt.Errorf("member %q excluded=%v with exclusion index %d", m.ID, m.Excluded, m.ExcludedIndex))
		}
	}
	if s.Resetting != "" {
		if m := s.member(s.Resetting); m == nil || m.Excluded || m.ID == s.Writer {
			errs = append(errs, fmt.Errorf("reset slot held by %q, which is not a live copier", s.Resetting))
		}
	}
	return errors.Join(errs...)
}

// apply applies one control command at index and returns the events it
// causes, or an error wrapping ErrRejected/ErrUnknownMember (the state is
// then unchanged). It is deterministic: it reads nothing but s and c.
func (s *State) apply(index uint64, c command) ([]Event, error) {
	ev := func(k EventKind, m Member) Event { return Event{Kind: k, Index: index, Epoch: s.Epoch, Member: m} }
	m := s.member(c.ID)
	if m == nil && c.Kind != kindAddMember {
		return nil, fmt.Errorf("%w: %s %q", ErrUnknownMember, c.Kind, c.ID)
	}
	reject := func(format string, a ...any) ([]Event, error) {
		return nil, fmt.Errorf("%w: %s %q: %s", ErrRejected, c.Kind, c.ID, fmt.Sprintf(format, a...))
	}
	switch c.Kind {
	case kindAddMember:
		if m != nil {
			if m.RaftAddr != c.RaftAddr || m.StabilityAddr != c.StabilityAddr {
				return reject("already a member with other addresses")
			}
			return nil, nil // idempotent
		}
		s.Generation++
		nm := Member{ID: c.ID, RaftAddr: c.RaftAddr, StabilityAddr: c.StabilityAddr, Suffrage: Nonvoter,
			Role: RoleCopier, Generation: s.Generation, JoinIndex: index, FreshIndex: index}
		i, _ := slices.BinarySearchFunc(s.Members, c.ID, func(m Member, id string) int { return strings.Compare(m.ID, id) })
		s.Members = slices.Insert(s.Members, i, nm)
		return []Event{ev(EventMemberJoined, nm)}, nil
	case kindRemoveMember:
		old := *m
		s.Members = slices.DeleteFunc(s.Members, func(x Member) bool { return x.ID == c.ID })
		if s.Writer == c.ID {
			s.Writer = ""
		}
		if s.Resetting == c.ID {
			s.Resetting, s.ResettingIndex = "", 0
		}
		s.Generation++
		return []Event{ev(EventMemberLeft, old)}, nil
	case kindSetWriter:
		if c.Epoch != s.Epoch+1 {
			return reject("epoch %d is not the next one (current %d)", c.Epoch, s.Epoch)
		}
		if m.Excluded {
			return reject("excluded members must reset and rejoin first")
		}
		if old := s.member(s.Writer); old != nil {
			old.Role = RoleCopier
			// The old writer's view of shared storage is not a copier's
			// snapshot: it must start afresh as a copier.
			s.Generation++
			old.Generation, old.FreshIndex = s.Generation, index
			old.OverlayBytes, old.ReportedIndex = 0, 0
		}
		m = s.member(c.ID)
		m.Role = RoleWriter
		s.Writer, s.Epoch = c.ID, c.Epoch
		if s.Resetting == c.ID {
			s.Resetting, s.ResettingIndex = "", 0
		}
		s.Generation++
		s.History = append(s.History, WriterTerm{Epoch: c.Epoch, ID: c.ID, Index: index})
		if len(s.History) > maxHistory {
			s.History = slices.Delete(s.History, 0, len(s.History)-maxHistory)
		}
		return []Event{ev(EventWriterChanged, *m)}, nil
	case kindExclude:
		if c.Epoch != s.Epoch {
			return reject("epoch %d is not the current one (%d)", c.Epoch, s.Epoch)
		}
		if c.ID == s.Writer {
			return reject("the writer cannot be excluded")
		}
		if m.Excluded {
			return nil, nil
		}
		m.Excluded, m.ExcludedEpoch, m.ExcludedIndex = true, c.Epoch, index
		if s.Resetting == c.ID {
			s.Resetting, s.ResettingIndex = "", 0
		}
		s.Generation++
		return []Event{ev(EventMemberExcluded, *m)}, nil
	case kindRejoin:
		if !m.Excluded {
			return reject("not excluded")
		}
		if c.Index != m.ExcludedIndex {
			return reject("answers the exclusion at index %d, not the current one at %d", c.Index, m.ExcludedIndex)
		}
		m.Excluded, m.ExcludedEpoch, m.ExcludedIndex = false, 0, 0
		s.Generation++
		m.Generation, m.FreshIndex = s.Generation, index
		m.OverlayBytes, m.ReportedIndex = 0, 0
		return []Event{ev(EventMemberRejoined, *m)}, nil
	case kindReportOverlay:
		if c.Bytes > 1<<62 {
			return reject("overlay size %d out of range", c.Bytes)
		}
		if c.Index < m.FreshIndex {
			return reject("report at applied index %d predates the member's fresh start at %d", c.Index, m.FreshIndex)
		}
		m.OverlayBytes = int64(c.Bytes)
		m.ReportedIndex = c.Index
		return nil, nil
	case kindResetStart:
		if c.Epoch != s.Epoch {
			return reject("epoch %d is not the current one (%d)", c.Epoch, s.Epoch)
		}
		if s.Resetting != "" {
			return reject("reset slot held by %q", s.Resetting)
		}
		if c.ID == s.Writer || m.Excluded {
			return reject("only a live copier can reset")
		}
		s.Resetting, s.ResettingIndex = c.ID, index
		return []Event{ev(EventResetStarted, *m)}, nil
	case kindResetDone:
		if s.Resetting != c.ID {
			return reject("does not hold the reset slot (%q does)", s.Resetting)
		}
		if c.Index != s.ResettingIndex {
			return reject("answers the reset grant at index %d, not the current one at %d", c.Index, s.ResettingIndex)
		}
		s.Resetting, s.ResettingIndex = "", 0
		s.Generation++
		m.Generation, m.FreshIndex = s.Generation, index
		m.OverlayBytes, m.ReportedIndex = 0, 0
		return []Event{ev(EventResetDone, *m)}, nil
	case kindSetVoter:
		if m.Suffrage == Voter {
			return nil, nil
		}
		m.Suffrage = Voter
		return []Event{ev(EventMemberPromoted, *m)}, nil
	case kindSetNonvoter:
		if m.Suffrage == Nonvoter {
			return nil, nil
		}
		if c.ID == s.Writer {
			return reject("the writer cannot be demoted")
		}
		m.Suffrage = Nonvoter
		return []Event{ev(EventMemberDemoted, *m)}, nil
	}
	return nil, fmt.Errorf("%w: kind %s is not a control command", ErrBadCommand, c.Kind)
}

// initialEvents describes s to a new subscriber.
func (s *State) initialEvents() []Event {
	var out []Event
	for _, m := range s.Members {
		out = append(out, Event{Kind: EventMemberJoined, Index: s.Index, Epoch: s.Epoch, Member: m, Initial: true})
		if m.Excluded {
			out = append(out, Event{Kind: EventMemberExcluded, Index: s.Index, Epoch: s.Epoch, Member: m, Initial: true})
		}
	}
	if w := s.member(s.Writer); w != nil {
		out = append(out, Event{Kind: EventWriterChanged, Index: s.Index, Epoch: s.Epoch, Member: *w, Initial: true})
	}
	if r := s.member(s.Resetting); r != nil {
		out = append(out, Event{Kind: EventResetStarted, Index: s.Index, Epoch: s.Epoch, Member: *r, Initial: true})
	}
	return out
}
