package raftcluster

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"
)

// This file checks State.apply, State.initialEvents and the fsm's
// snapshots against clusterModel, a second, deliberately plain
// implementation of the cluster state written from the documentation
// (state.go's field comments, observer.go's event kinds, doc.go's
// Membership and Garbage collection sections). Where the documentation
// leaves a detail open, the model's comment says which reading it takes.

// modelIDs are the member IDs that AddMember draws; ghostID is never
// added, so commands naming it always meet an unknown member.
var modelIDs = []string{"a", "b", "c", "d", "e"}

const ghostID = "ghost"

// modelMember is one member in the model. Its role is not stored: a
// member is the writer exactly when its ID is clusterModel.writer.
type modelMember struct {
	raftAddr, stabilityAddr string
	voter                   bool
	generation              uint64
	overlay                 int64
	reportedIndex           uint64
	reportedGen             uint64 // the generation the last report was made in
	excluded                bool
	excludedEpoch           uint64
	excludedIndex           uint64 // log index of the Exclude; a Rejoin must name it
	joinIndex               uint64
	freshIndex              uint64 // log index of the last fresh start; older reports are refused
}

// clusterModel is the model of State: plain maps, no sorting until it is
// compared.
type clusterModel struct {
	index      uint64
	members    map[string]*modelMember
	writer     string
	epoch      uint64
	generation uint64
	resetting  string
	resetIndex uint64       // log index of the ResetStart; a ResetDone must name it
	history    []WriterTerm // oldest first, at most maxHistory
}

func newClusterModel() *clusterModel {
	return &clusterModel{members: map[string]*modelMember{}}
}

// ids returns the sorted IDs of the members for which keep is true (all
// members if keep is nil). Sorted, so that what rapid draws from it does
// not depend on map order.
func (m *clusterModel) ids(keep func(id string, mm *modelMember) bool) []string {
	var out []string
	for id, mm := range m.members {
		if keep == nil || keep(id, mm) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// member renders one model member as a Member.
func (m *clusterModel) member(id string) Member {
	mm := m.members[id]
	suffrage, role := Nonvoter, RoleCopier
	if mm.voter {
		suffrage = Voter
	}
	if id == m.writer {
		role = RoleWriter
	}
	return Member{ID: id, RaftAddr: mm.raftAddr, StabilityAddr: mm.stabilityAddr, Suffrage: suffrage, Role: role,
		Generation: mm.generation, OverlayBytes: mm.overlay, ReportedIndex: mm.reportedIndex,
		Excluded: mm.excluded, ExcludedEpoch: mm.excludedEpoch, ExcludedIndex: mm.excludedIndex, JoinIndex: mm.joinIndex, FreshIndex: mm.freshIndex}
}

// state renders the model as a State.
func (m *clusterModel) state() State {
	s := State{Index: m.index, Writer: m.writer, Epoch: m.epoch, Generation: m.generation,
		Resetting: m.resetting, ResettingIndex: m.resetIndex, History: slices.Clone(m.history)}
	for _, id := range m.ids(nil) {
		s.Members = append(s.Members, m.member(id))
	}
	return s
}

// event is the event the model expects for id, read after the change.
func (m *clusterModel) event(k EventKind, id string) []Event {
	return []Event{{Kind: k, Index: m.index, Epoch: m.epoch, Member: m.member(id)}}
}

// freshStart records that id starts from a fresh view of shared storage:
// a new cluster generation, which becomes the member's, and no overlay
// report yet: the size and the index of its last report are both
// cleared, and it must report again (writer choice leaves it out until
// then).
func (m *clusterModel) freshStart(id string) {
	m.generation++
	m.members[id].generation = m.generation
	m.members[id].overlay = 0
	m.members[id].reportedIndex = 0
	m.members[id].freshIndex = m.index
}

// modelRefusal is the model's refusal: the sentinel State must return,
// and the reason, for the outcome counts.
type modelRefusal struct {
	sentinel error
	reason   string
}

func (r *modelRefusal) Error() string { return r.sentinel.Error() + ": " + r.reason }
func (r *modelRefusal) Unwrap() error { return r.sentinel }

func refused(sentinel error, reason string) error { return &modelRefusal{sentinel, reason} }

// step applies c at index. It returns the events a subscriber sees and
// nil or a refusal wrapping ErrRejected or ErrUnknownMember. A refused
// command changes nothing but the index (the fsm records every entry's
// index).
func (m *clusterModel) step(index uint64, c command) ([]Event, error) {
	m.index = index
	mm, known := m.members[c.ID]
	if c.Kind != kindAddMember && !known {
		return nil, refused(ErrUnknownMember, "")
	}
	switch c.Kind {
	case kindAddMember:
		if known {
			// Adding a member again is idempotent with the same
			// addresses and refused with others.
			if mm.raftAddr == c.RaftAddr && mm.stabilityAddr == c.StabilityAddr {
				return nil, nil
			}
			return nil, refused(ErrRejected, "other-addresses")
		}
		// Members join as non-voting copiers; a join changes the copier
		// set, so it opens a generation, which is the member's.
		m.generation++
		m.members[c.ID] = &modelMember{raftAddr: c.RaftAddr, stabilityAddr: c.StabilityAddr,
			generation: m.generation, joinIndex: index, freshIndex: index}
		return m.event(EventMemberJoined, c.ID), nil

	case kindRemoveMember:
		// Leaving: the event carries the member as it was. A leaving
		// writer leaves no writer (the epoch stays), a leaving reset
		// holder frees the slot.
		evs := m.event(EventMemberLeft, c.ID)
		delete(m.members, c.ID)
		if m.writer == c.ID {
			m.writer = ""
		}
		if m.resetting == c.ID {
			m.resetting, m.resetIndex = "", 0
		}
		m.generation++
		evs[0].Epoch = m.epoch
		return evs, nil

	case kindSetWriter:
		// Only exactly the next epoch, and never an excluded member.
		if c.Epoch != m.epoch+1 {
			return nil, refused(ErrRejected, "not-the-next-epoch")
		}
		if mm.excluded {
			return nil, refused(ErrRejected, "excluded")
		}
		// The outgoing writer becomes a copier that starts afresh (its
		// view of shared storage is not a copier's snapshot). Reading
		// taken: a writer re-elected for the next epoch also steps down
		// and up, so it too gets a fresh generation and a zero overlay.
		if m.writer != "" {
			m.freshStart(m.writer)
		}
		m.writer, m.epoch = c.ID, c.Epoch
		// The new writer leaves the copier set, and cannot keep the
		// reset slot (only live copiers hold it).
		m.generation++
		if m.resetting == c.ID {
			m.resetting, m.resetIndex = "", 0
		}
		m.history = append(m.history, WriterTerm{Epoch: c.Epoch, ID: c.ID, Index: index})
		if n := len(m.history); n > maxHistory {
			m.history = m.history[n-maxHistory:]
		}
		return m.event(EventWriterChanged, c.ID), nil

	case kindExclude:
		// Recorded with the current epoch only; the writer is never
		// excluded; excluding again is a no-op.
		if c.Epoch != m.epoch {
			return nil, refused(ErrRejected, "not-the-current-epoch")
		}
		if c.ID == m.writer {
			return nil, refused(ErrRejected, "writer")
		}
		if mm.excluded {
			return nil, nil
		}
		mm.excluded, mm.excludedEpoch, mm.excludedIndex = true, c.Epoch, index
		if m.resetting == c.ID {
			m.resetting, m.resetIndex = "", 0
		}
		m.generation++
		return m.event(EventMemberExcluded, c.ID), nil

	case kindRejoin:
		if !mm.excluded {
			return nil, refused(ErrRejected, "not-excluded")
		}
		// A Rejoin answers one exclusion, named by its index: a late
		// retry that answers an earlier one must not clear this one.
		if c.Index != mm.excludedIndex {
			return nil, refused(ErrRejected, "stale-rejoin")
		}
		mm.excluded, mm.excludedEpoch, mm.excludedIndex = false, 0, 0
		m.freshStart(c.ID)
		return m.event(EventMemberRejoined, c.ID), nil

	case kindReportOverlay:
		// Overlay sizes are int64 on the wire's uint64; sizes past 1<<62
		// are nonsense and refused.
		if c.Bytes > 1<<62 {
			return nil, refused(ErrRejected, "out-of-range")
		}
		// A report made before the member's fresh start (sent before it
		// applied that entry, delivered after) describes the old view.
		if c.Index < mm.freshIndex {
			return nil, refused(ErrRejected, "stale-report")
		}
		mm.overlay, mm.reportedIndex, mm.reportedGen = int64(c.Bytes), c.Index, mm.generation
		return nil, nil

	case kindResetStart:
		// One reset slot, granted in the current epoch to a live copier.
		switch {
		case c.Epoch != m.epoch:
			return nil, refused(ErrRejected, "not-the-current-epoch")
		case m.resetting != "":
			return nil, refused(ErrRejected, "slot-held")
		case c.ID == m.writer:
			return nil, refused(ErrRejected, "writer")
		case mm.excluded:
			return nil, refused(ErrRejected, "excluded")
		}
		m.resetting, m.resetIndex = c.ID, index
		return m.event(EventResetStarted, c.ID), nil

	case kindResetDone:
		if m.resetting != c.ID {
			return nil, refused(ErrRejected, "not-the-holder")
		}
		if c.Index != m.resetIndex {
			return nil, refused(ErrRejected, "stale-reset-done")
		}
		m.resetting, m.resetIndex = "", 0
		m.freshStart(c.ID)
		return m.event(EventResetDone, c.ID), nil

	case kindSetVoter:
		if mm.voter {
			return nil, nil
		}
		mm.voter = true
		return m.event(EventMemberPromoted, c.ID), nil

	case kindSetNonvoter:
		if !mm.voter {
			return nil, nil
		}
		// The writer is the Raft leader: it keeps its vote.
		if c.ID == m.writer {
			return nil, refused(ErrRejected, "writer")
		}
		mm.voter = false
		return m.event(EventMemberDemoted, c.ID), nil
	}
	panic(fmt.Sprintf("model: command kind %s not modelled", c.Kind))
}

// initialEvents is what a new subscriber learns, as a set: every member
// joined, every excluded member excluded, the writer (if any) and the
// reset holder (if any). Suffrage travels in the Member payload.
func (m *clusterModel) initialEvents() []Event {
	var out []Event
	ev := func(k EventKind, id string) {
		out = append(out, Event{Kind: k, Index: m.index, Epoch: m.epoch, Member: m.member(id), Initial: true})
	}
	for _, id := range m.ids(nil) {
		ev(EventMemberJoined, id)
		if m.members[id].excluded {
			ev(EventMemberExcluded, id)
		}
	}
	if m.writer != "" {
		ev(EventWriterChanged, m.writer)
	}
	if m.resetting != "" {
		ev(EventResetStarted, m.resetting)
	}
	return out
}

// errClass names the sentinel an apply error wraps.
func errClass(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, ErrUnknownMember):
		return "unknown"
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, ErrBadCommand):
		return "bad"
	}
	return "other: " + err.Error()
}

// diffState lists the fields in which got differs from want.
func diffState(got, want State) []string {
	var d []string
	field := func(name string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("Index", got.Index, want.Index)
	field("Writer", got.Writer, want.Writer)
	field("Epoch", got.Epoch, want.Epoch)
	field("Generation", got.Generation, want.Generation)
	field("Resetting", got.Resetting, want.Resetting)
	if len(got.Members) != len(want.Members) {
		d = append(d, fmt.Sprintf("Members = %+v, want %+v", got.Members, want.Members))
	} else {
		for i := range got.Members {
			field(fmt.Sprintf("Members[%d]", i), fmt.Sprintf("%+v", got.Members[i]), fmt.Sprintf("%+v", want.Members[i]))
		}
	}
	if len(got.History) != len(want.History) {
		d = append(d, fmt.Sprintf("len(History) = %d, want %d", len(got.History), len(want.History)))
	} else {
		for i := range got.History {
			if got.History[i] != want.History[i] {
				d = append(d, fmt.Sprintf("History[%d] = %+v, want %+v", i, got.History[i], want.History[i]))
				break
			}
		}
	}
	return d
}

// sameEvents compares event lists, treating nil and empty alike.
func sameEvents(got, want []Event) bool {
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

// fmtEvents shows events in full (Event.String leaves out the member).
func fmtEvents(evs []Event) string {
	var b bytes.Buffer
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n\t%s initial=%v %+v", ev, ev.Initial, ev.Member)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// drain returns the events queued on sub.
func drain(sub *Subscription) []Event {
	var out []Event
	for len(sub.C()) > 0 {
		out = append(out, <-sub.C())
	}
	return out
}

// modelHarness runs one rapid case: the same commands go to a State
// through State.apply, to the model, and, encoded, to a mirror fsm
// through fsm.Apply, as Raft would deliver them.
type modelHarness struct {
	st     State
	model  *clusterModel
	mirror *fsm
	sub    *Subscription // on mirror, sees every published event
	// appIndices are the indices the mirror's ApplyFunc was called with.
	appIndices []uint64
	next       uint64 // next log index
	// terms is every writer term ever seen in History, by epoch: one
	// writer per epoch, forever, even after History drops the term.
	terms                       map[uint64]WriterTerm
	lastEpoch, lastGen          uint64
	stats                       map[string]int // "Kind/outcome" counts over all cases
	longChurnAllowed            bool           // this case may overflow History, once
	longChurn                   bool           // a churn overflowed History in this case
	longestHistory, mostMembers int
}

const mirrorBuf = 1 << 12

func (h *modelHarness) newFSM() *fsm {
	return newFSM(func(index uint64, cmd []byte) []byte {
		h.appIndices = append(h.appIndices, index)
		return slices.Clone(cmd)
	}, nil, nil, newHub())
}

func newModelHarness(stats map[string]int) *modelHarness {
	h := &modelHarness{model: newClusterModel(), next: 1, terms: map[uint64]WriterTerm{}, stats: stats}
	h.mirror = h.newFSM()
	h.sub = h.mirror.subscribe(mirrorBuf)
	return h
}

// apply sends c at the next index to the State, the model and the
// mirror, and compares outcome and events.
func (h *modelHarness) apply(t *rapid.T, c command) {
	index := h.next
	h.next++
	wantEvs, wantErr := h.model.step(index, c)
	// A copy to show that a refusal or a no-op changes nothing. It is
	// skipped only for a SetWriter the model accepts (the churn's
	// thousands of them): should State refuse it, the outcomes differ and
	// the test fails anyway.
	keep := wantErr != nil || c.Kind != kindSetWriter
	var before State
	if keep {
		before = h.st.Clone()
	}
	evs, err := h.st.apply(index, c)
	noop := err == nil && len(evs) == 0 && c.Kind != kindReportOverlay
	if keep && (err != nil || noop) && !reflect.DeepEqual(before, h.st) {
		t.Fatalf("index %d: %+v (%v, %d events) changed the state:\nbefore %+v\nafter  %+v", index, c, err, len(evs), before, h.st)
	}
	h.st.Index = index // as fsm.Apply does, whatever the outcome
	outcome := errClass(err)
	if outcome != errClass(wantErr) {
		t.Fatalf("index %d: %+v: State says %s (%v), model says %s", index, c, outcome, err, errClass(wantErr))
	}
	key := c.Kind.String() + "/" + outcome
	if r, ok := wantErr.(*modelRefusal); ok && r.reason != "" {
		key += "(" + r.reason + ")"
	} else if noop {
		key += "(no-op)"
	}
	h.stats[key]++
	if !sameEvents(evs, wantEvs) {
		t.Fatalf("index %d: %+v: events%s\nwant%s", index, c, fmtEvents(evs), fmtEvents(wantEvs))
	}
	// The mirror decodes the entry and publishes what apply returned.
	res := h.mirror.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: encodeCommand(c)})
	var merr error
	if res != nil {
		var ok bool
		if merr, ok = res.(error); !ok {
			t.Fatalf("index %d: fsm.Apply(%s) returned %T", index, c.Kind, res)
		}
	}
	if got := errClass(merr); got != errClass(err) {
		t.Fatalf("index %d: %+v: fsm.Apply says %s (%v), State.apply %s", index, c, got, merr, errClass(err))
	}
	if pub := drain(h.sub); !sameEvents(pub, evs) {
		t.Fatalf("index %d: %+v: fsm published%s\napply returned%s", index, c, fmtEvents(pub), fmtEvents(evs))
	}
}

// advance records an entry that is not a control command at the next
// index: the mirror applies data, the State and the model only move on.
func (h *modelHarness) advance(t *rapid.T, data []byte) any {
	index := h.next
	h.next++
	res := h.mirror.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	h.st.Index = index
	h.model.index = index
	if pub := drain(h.sub); len(pub) != 0 {
		t.Fatalf("index %d: non-control entry published%s", index, fmtEvents(pub))
	}
	return res
}

// check compares everything after each action.
func (h *modelHarness) check(t *rapid.T) {
	if err := h.st.Check(); err != nil {
		t.Fatalf("State.Check at index %d: %v", h.st.Index, err)
	}
	if d := diffState(h.st, h.model.state()); len(d) > 0 {
		t.Fatalf("State differs from the model at index %d:\n  %s", h.st.Index, fmt.Sprint(d))
	}
	if d := diffState(h.mirror.state(), h.st); len(d) > 0 {
		t.Fatalf("fsm state differs from State at index %d:\n  %s", h.st.Index, fmt.Sprint(d))
	}
	if got := h.mirror.applied.Load(); got != h.st.Index {
		t.Fatalf("fsm applied index %d, want %d", got, h.st.Index)
	}
	// One writer per epoch, forever; epochs and generations never go back.
	for _, term := range h.st.History {
		if old, ok := h.terms[term.Epoch]; ok && old != term {
			t.Fatalf("epoch %d was %+v, now %+v", term.Epoch, old, term)
		}
		h.terms[term.Epoch] = term
	}
	if h.st.Epoch < h.lastEpoch || h.st.Generation < h.lastGen {
		t.Fatalf("epoch %d -> %d, generation %d -> %d", h.lastEpoch, h.st.Epoch, h.lastGen, h.st.Generation)
	}
	h.lastEpoch, h.lastGen = h.st.Epoch, h.st.Generation
	// Writer choice (every member a voter, none down) never prefers a
	// member whose overlay size was not reported in its current
	// generation: one that rejoined, reset or stepped down as writer since
	// its last report has a zeroed size, not a measured one.
	voters := map[string]bool{}
	for _, m := range h.st.Members {
		voters[m.ID] = true
	}
	if w, ok := preferWriter(h.st, "", voters, nil, nil); ok {
		if mm := h.model.members[w.ID]; mm.reportedIndex == 0 || mm.reportedGen != mm.generation {
			t.Fatalf("index %d: writer choice prefers %q, whose last report (index %d) predates its generation %d: %+v",
				h.st.Index, w.ID, mm.reportedIndex, mm.generation, w)
		}
	}
	h.longestHistory = max(h.longestHistory, len(h.st.History))
	h.mostMembers = max(h.mostMembers, len(h.st.Members))
}

// drawID draws a member ID: half the time one of prefer (the members for
// which the command is likely to be accepted), a quarter any member, a
// quarter any of modelIDs or ghostID.
func (h *modelHarness) drawID(t *rapid.T, label string, prefer []string) string {
	switch choice := rapid.IntRange(0, 3).Draw(t, label+" from"); {
	case choice < 2 && len(prefer) > 0:
		return rapid.SampledFrom(prefer).Draw(t, label)
	case choice == 2 && len(h.model.members) > 0:
		return rapid.SampledFrom(h.model.ids(nil)).Draw(t, label)
	}
	return rapid.SampledFrom(append(slices.Clone(modelIDs), ghostID)).Draw(t, label)
}

// drawEpoch draws want (most often), an older epoch, a newer one or the
// largest.
func drawEpoch(t *rapid.T, label string, want uint64) uint64 {
	switch rapid.IntRange(0, 5).Draw(t, label+" choice") {
	case 3:
		if want > 0 {
			return rapid.Uint64Range(0, want-1).Draw(t, label)
		}
		return want + 1
	case 4:
		return rapid.Uint64Range(want+1, want+16).Draw(t, label)
	case 5:
		return math.MaxUint64
	}
	return want
}

// drawOverlay draws overlay sizes around and far beyond the 1<<62 bound.
var drawOverlay = rapid.OneOf(
	rapid.Uint64Range(0, 1<<40),
	rapid.Uint64Range(0, 1<<40),
	rapid.Just(uint64(1<<62)),
	rapid.Just(uint64(1<<62+1)),
	rapid.Uint64Range(1<<62+1, math.MaxUint64),
)

func (h *modelHarness) drawAddMember(t *rapid.T) command {
	id := rapid.SampledFrom(modelIDs).Draw(t, "id")
	if mm, ok := h.model.members[id]; ok && rapid.Bool().Draw(t, "same addresses") {
		return command{Kind: kindAddMember, ID: id, RaftAddr: mm.raftAddr, StabilityAddr: mm.stabilityAddr}
	}
	return command{Kind: kindAddMember, ID: id,
		RaftAddr:      rapid.SampledFrom([]string{"r-" + id, "r2-" + id}).Draw(t, "raft addr"),
		StabilityAddr: rapid.SampledFrom([]string{"s-" + id, "s2-" + id}).Draw(t, "stability addr")}
}

// actions returns the rapid actions, one per command kind plus the
// snapshot, subscriber and non-control entries.
func (h *modelHarness) actions() map[string]func(*rapid.T) {
	m := h.model
	all := func(string, *modelMember) bool { return true }
	live := func(_ string, mm *modelMember) bool { return !mm.excluded }
	copier := func(id string, mm *modelMember) bool { return id != m.writer }
	liveCopier := func(id string, mm *modelMember) bool { return id != m.writer && !mm.excluded }
	excluded := func(_ string, mm *modelMember) bool { return mm.excluded }
	voter := func(_ string, mm *modelMember) bool { return mm.voter }
	return map[string]func(*rapid.T){
		"": h.check,
		"AddMember": func(t *rapid.T) {
			h.apply(t, h.drawAddMember(t))
		},
		"RemoveMember": func(t *rapid.T) {
			h.apply(t, command{Kind: kindRemoveMember, ID: h.drawID(t, "id", m.ids(all))})
		},
		"SetWriter": func(t *rapid.T) {
			h.apply(t, command{Kind: kindSetWriter, ID: h.drawID(t, "id", m.ids(live)), Epoch: drawEpoch(t, "epoch", m.epoch+1)})
		},
		"Exclude": func(t *rapid.T) {
			h.apply(t, command{Kind: kindExclude, ID: h.drawID(t, "id", m.ids(copier)), Epoch: drawEpoch(t, "epoch", m.epoch)})
		},
		"Rejoin": func(t *rapid.T) {
			id := h.drawID(t, "id", m.ids(excluded))
			idx := uint64(0)
			if mm := m.members[id]; mm != nil {
				idx = mm.excludedIndex
			}
			h.apply(t, command{Kind: kindRejoin, ID: id, Index: drawCauseIndex(t, idx)})
		},
		"ReportOverlay": func(t *rapid.T) {
			h.apply(t, command{Kind: kindReportOverlay, ID: h.drawID(t, "id", m.ids(all)),
				Bytes: drawOverlay.Draw(t, "bytes"), Index: rapid.OneOf(rapid.Uint64Range(0, m.index+1), rapid.Uint64()).Draw(t, "applied index")})
		},
		"ResetStart": func(t *rapid.T) {
			h.apply(t, command{Kind: kindResetStart, ID: h.drawID(t, "id", m.ids(liveCopier)), Epoch: drawEpoch(t, "epoch", m.epoch)})
		},
		"ResetDone": func(t *rapid.T) {
			var holder []string
			if m.resetting != "" {
				holder = []string{m.resetting}
			}
			h.apply(t, command{Kind: kindResetDone, ID: h.drawID(t, "id", holder), Index: drawCauseIndex(t, m.resetIndex)})
		},
		"SetVoter": func(t *rapid.T) {
			h.apply(t, command{Kind: kindSetVoter, ID: h.drawID(t, "id", m.ids(all))})
		},
		"SetNonvoter": func(t *rapid.T) {
			h.apply(t, command{Kind: kindSetNonvoter, ID: h.drawID(t, "id", m.ids(voter))})
		},
		"WriterChurn": h.writerChurn,
		"App": func(t *rapid.T) {
			payload := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "payload")
			res := h.advance(t, encodeApp(payload))
			r, ok := res.(appResult)
			if !ok || !bytes.Equal(r.resp, payload) {
				t.Fatalf("App at %d returned %#v", h.st.Index, res)
			}
			if n := len(h.appIndices); n == 0 || h.appIndices[n-1] != h.st.Index {
				t.Fatalf("ApplyFunc saw %v, want it to end at %d", h.appIndices, h.st.Index)
			}
		},
		"BadEntry":  h.badEntry,
		"Snapshot":  h.snapshot,
		"Subscribe": h.subscribe,
	}
}

// writerChurn hands the writer role round the live members for a drawn
// number of epochs, sometimes enough to overflow History's bound.
func (h *modelHarness) writerChurn(t *rapid.T) {
	live := h.model.ids(func(_ string, mm *modelMember) bool { return !mm.excluded })
	if len(live) == 0 {
		t.Skip("no live member")
	}
	// Rarely (it costs a thousand steps), enough terms to overflow History.
	n := rapid.IntRange(1, 4).Draw(t, "terms")
	if h.longChurnAllowed && !h.longChurn && rapid.Bool().Draw(t, "long churn") {
		h.longChurn = true
		n = rapid.IntRange(maxHistory-2, maxHistory+2).Draw(t, "many terms")
	}
	first := rapid.IntRange(0, len(live)-1).Draw(t, "first")
	for i := range n {
		h.apply(t, command{Kind: kindSetWriter, ID: live[(first+i)%len(live)], Epoch: h.model.epoch + 1})
		if err := h.st.Check(); err != nil {
			t.Fatalf("State.Check after churn term %d: %v", i, err)
		}
	}
}

// badEntry applies an undecodable entry: the state only records its index.
func (h *modelHarness) badEntry(t *rapid.T) {
	good := encodeCommand(command{Kind: kindReportOverlay, ID: "a", Bytes: 1 << 20, Index: 300})
	var data []byte
	switch rapid.IntRange(0, 4).Draw(t, "corruption") {
	case 0:
		data = append([]byte{commandVersion + 1}, good[1:]...)
	case 1:
		data = append([]byte{commandVersion, byte(rapid.SampledFrom([]cmdKind{0, kindMax, 255}).Draw(t, "kind"))}, good[2:]...)
	case 2:
		data = good[:rapid.IntRange(0, len(good)-1).Draw(t, "length")]
	case 3:
		data = append(slices.Clone(good), 0)
	case 4:
		data = encodeCommand(command{Kind: kindRejoin})
	}
	res := h.advance(t, data)
	err, _ := res.(error)
	if !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad entry %x applied with result %#v", data, res)
	}
}

// snapshot round-trips the State through encodeSnapshot/decodeSnapshot,
// and the mirror through Snapshot, Persist and Restore into a fresh fsm,
// which replaces the mirror from then on.
func (h *modelHarness) snapshot(t *rapid.T) {
	b, err := encodeSnapshot(h.st)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeSnapshot(b)
	if err != nil {
		t.Fatalf("decodeSnapshot: %v", err)
	}
	if !reflect.DeepEqual(dec, h.st) {
		t.Fatalf("snapshot round trip:\n%v", diffState(dec, h.st))
	}

	snap, err := h.mirror.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := h.newFSM()
	sub := g.subscribe(mirrorBuf)
	if evs := drain(sub); len(evs) != 0 {
		t.Fatalf("fresh fsm has initial events%s", fmtEvents(evs))
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !reflect.DeepEqual(g.state(), h.st) {
		t.Fatalf("restored fsm:\n%v", diffState(g.state(), h.st))
	}
	if g.applied.Load() != h.st.Index {
		t.Fatalf("restored applied index %d, want %d", g.applied.Load(), h.st.Index)
	}
	// A subscriber of the empty fsm learns of every member (and of its
	// exclusion and vote), the reset slot and the writer, as events of
	// the restored index.
	var want []Event
	for _, mb := range h.st.Members {
		want = append(want, Event{Kind: EventMemberJoined, Index: h.st.Index, Epoch: h.st.Epoch, Member: mb})
		if mb.Excluded {
			want = append(want, Event{Kind: EventMemberExcluded, Index: h.st.Index, Epoch: h.st.Epoch, Member: mb})
		}
		if mb.Suffrage == Voter {
			want = append(want, Event{Kind: EventMemberPromoted, Index: h.st.Index, Epoch: h.st.Epoch, Member: mb})
		}
	}
	if r, ok := h.st.Member(h.st.Resetting); ok {
		want = append(want, Event{Kind: EventResetStarted, Index: h.st.Index, Epoch: h.st.Epoch, Member: r})
	}
	if w, ok := h.st.Member(h.st.Writer); ok {
		want = append(want, Event{Kind: EventWriterChanged, Index: h.st.Index, Epoch: h.st.Epoch, Member: w})
	}
	if got := drain(sub); !sameEvents(got, want) {
		t.Fatalf("restore events%s\nwant%s", fmtEvents(got), fmtEvents(want))
	}
	h.sub.Unsubscribe()
	h.mirror, h.sub = g, sub
}

// subscribe compares what a new subscriber sees with the model: the same
// set of events, each Initial at the current index and epoch, and each
// member's MemberJoined before any other event about it.
func (h *modelHarness) subscribe(t *rapid.T) {
	got := h.st.initialEvents()
	sub := h.mirror.subscribe(0)
	defer sub.Unsubscribe()
	if viaFSM := drain(sub); !sameEvents(viaFSM, got) {
		t.Fatalf("fsm.subscribe initial events%s\nState.initialEvents%s", fmtEvents(viaFSM), fmtEvents(got))
	}
	joined := map[string]bool{}
	for _, ev := range got {
		if !ev.Initial || ev.Index != h.st.Index || ev.Epoch != h.st.Epoch {
			t.Fatalf("initial event %+v at index %d epoch %d", ev, h.st.Index, h.st.Epoch)
		}
		if ev.Kind == EventMemberJoined {
			joined[ev.Member.ID] = true
		} else if !joined[ev.Member.ID] {
			t.Fatalf("initial %s before %s joined:%s", ev.Kind, ev.Member.ID, fmtEvents(got))
		}
	}
	order := func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Member.ID, b.Member.ID), cmp.Compare(a.Kind, b.Kind))
	}
	got = slices.SortedFunc(slices.Values(got), order)
	want := slices.SortedFunc(slices.Values(h.model.initialEvents()), order)
	if !sameEvents(got, want) {
		t.Fatalf("initial events (sorted)%s\nwant%s", fmtEvents(got), fmtEvents(want))
	}
}

// setup draws an opening: some members, maybe a writer and some voters,
// applied and checked like every other command.
func (h *modelHarness) setup(t *rapid.T) {
	h.longChurnAllowed = rapid.IntRange(0, 15).Draw(t, "may overflow history") == 0
	ids := rapid.SliceOfDistinct(rapid.SampledFrom(modelIDs), func(id string) string { return id }).Draw(t, "initial members")
	for _, id := range ids {
		h.apply(t, command{Kind: kindAddMember, ID: id, RaftAddr: "r-" + id, StabilityAddr: "s-" + id})
	}
	for _, id := range ids {
		if rapid.Bool().Draw(t, "voter "+id) {
			h.apply(t, command{Kind: kindSetVoter, ID: id})
		}
	}
	if len(ids) > 0 && rapid.Bool().Draw(t, "initial writer") {
		h.apply(t, command{Kind: kindSetWriter, ID: rapid.SampledFrom(ids).Draw(t, "writer"), Epoch: 1})
	}
}

// TestStateModel_apply checks State.apply, initialEvents and the fsm's
// snapshot and restore against clusterModel over random command
// sequences of every control kind. Replay a failure with -rapid.seed.
func TestStateModel_apply(t *testing.T) {
	stats := map[string]int{}
	var maxHist, maxMemb, cases int
	rapid.Check(t, func(rt *rapid.T) {
		h := newModelHarness(stats)
		defer h.sub.Unsubscribe()
		h.setup(rt)
		h.check(rt)
		rt.Repeat(h.actions())
		maxHist, maxMemb = max(maxHist, h.longestHistory), max(maxMemb, h.mostMembers)
		cases++
	})
	var keys []string
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, stats[k])
	}
	t.Logf("%d cases, longest history %d, most members %d; outcomes:%s", cases, maxHist, maxMemb, b.String())
}

// drawCauseIndex draws the index a Rejoin or ResetDone names: mostly the
// right one, sometimes an earlier or a later one (a stale or bogus retry).
func drawCauseIndex(t *rapid.T, right uint64) uint64 {
	switch rapid.IntRange(0, 5).Draw(t, "cause index choice") {
	case 0:
		return right - min(right, 1+rapid.Uint64Range(0, 3).Draw(t, "earlier by"))
	case 1:
		return right + 1 + rapid.Uint64Range(0, 3).Draw(t, "later by")
	}
	return right
}
