package raftcluster

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs/vfstest"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0 = time-based)")

// testSeed returns the seed of a randomized test and logs it.
func testSeed(t *testing.T) uint64 {
	return vfstest.Seed(t, *seedFlag)
}

func randomCommand(r *rand.Rand, st *State) command {
	ids := []string{"a", "b", "c", "d", "e"}
	id := ids[r.IntN(len(ids))]
	epoch := st.Epoch
	switch r.IntN(4) {
	case 0:
		epoch++
	case 1:
		epoch = uint64(r.IntN(5))
	}
	kinds := []cmdKind{kindAddMember, kindAddMember, kindRemoveMember, kindSetWriter, kindSetWriter, kindExclude,
		kindRejoin, kindReportOverlay, kindResetStart, kindResetDone, kindSetVoter, kindSetNonvoter}
	k := kinds[r.IntN(len(kinds))]
	addr := "addr-" + id
	if r.IntN(10) == 0 {
		addr = "other"
	}
	index := uint64(r.IntN(100))
	if r.IntN(2) == 0 {
		// Rejoin and ResetDone name the exclusion or grant they answer.
		switch m := st.member(id); {
		case k == kindRejoin && m != nil:
			index = m.ExcludedIndex
		case k == kindResetDone:
			index = st.ResettingIndex
		}
	}
	return command{Kind: k, ID: id, RaftAddr: addr, StabilityAddr: "s-" + id, Epoch: epoch,
		Bytes: uint64(r.IntN(1 << 20)), Index: index}
}

// TestState_apply_randomInvariants applies random commands and checks,
// after each: the invariants hold, a rejected command changes nothing, an
// accepted SetWriter raises the epoch by exactly one, and the writer of
// every epoch in the history never changes afterwards.
func TestState_apply_randomInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	var st State
	owners := map[uint64]string{}
	for i := uint64(1); i <= 5000; i++ {
		c := randomCommand(r, &st)
		before := st.Clone()
		evs, err := st.apply(i, c)
		if err != nil {
			if !reflect.DeepEqual(before, st) {
				t.Fatalf("step %d: rejected %+v changed the state", i, c)
			}
			continue
		}
		if c.Kind == kindSetWriter {
			if st.Epoch != before.Epoch+1 || st.Writer != c.ID {
				t.Fatalf("step %d: SetWriter %+v: epoch %d->%d writer %q", i, c, before.Epoch, st.Epoch, st.Writer)
			}
			if len(evs) != 1 || evs[0].Kind != EventWriterChanged {
				t.Fatalf("step %d: events %v", i, evs)
			}
		}
		if err := st.Check(); err != nil {
			t.Fatalf("step %d after %+v: %v", i, c, err)
		}
		for _, h := range st.History {
			if o, ok := owners[h.Epoch]; ok && o != h.ID {
				t.Fatalf("epoch %d owner changed %s -> %s", h.Epoch, o, h.ID)
			}
			owners[h.Epoch] = h.ID
		}
	}
	t.Logf("final epoch %d, %d members, generation %d", st.Epoch, len(st.Members), st.Generation)
}

func TestState_Check_detects(t *testing.T) {
	good := State{Writer: "a", Epoch: 2, Generation: 3,
		Members: []Member{{ID: "a", Role: RoleWriter, Suffrage: Voter, Generation: 1}, {ID: "b", Role: RoleCopier, Suffrage: Nonvoter, Generation: 2}},
		History: []WriterTerm{{Epoch: 1, ID: "b", Index: 3}, {Epoch: 2, ID: "a", Index: 9}}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	breaks := map[string]func(s *State){
		"unsorted":       func(s *State) { s.Members[0], s.Members[1] = s.Members[1], s.Members[0] },
		"two writers":    func(s *State) { s.Members[1].Role = RoleWriter },
		"writer missing": func(s *State) { s.Writer = "z" },
		"history gap":    func(s *State) { s.History[1].Epoch = 3 },
		"history end":    func(s *State) { s.Epoch = 5 },
		"excluded writer": func(s *State) {
			s.Members[0].Excluded = true
		},
		"reset by writer": func(s *State) { s.Resetting = "a" },
		"generation":      func(s *State) { s.Members[1].Generation = 9 },
	}
	for name, br := range breaks {
		s := good.Clone()
		br(&s)
		if s.Check() == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}

type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSM_SnapshotRestore_roundTrip(t *testing.T) {
	var applied []uint64
	f := newFSM(func(index uint64, cmd []byte) []byte { applied = append(applied, index); return nil }, nil, nil, newHub())
	cmds := []command{
		{Kind: kindAddMember, ID: "a", RaftAddr: "ra", StabilityAddr: "sa"},
		{Kind: kindAddMember, ID: "b", RaftAddr: "rb", StabilityAddr: "sb"},
		{Kind: kindSetWriter, ID: "a", Epoch: 1},
		{Kind: kindApp, App: []byte("x")},
		{Kind: kindReportOverlay, ID: "b", Bytes: 4096, Index: 4},
		{Kind: kindExclude, ID: "b", Epoch: 1},
		{Kind: kindSetWriter, ID: "a", Epoch: 2},
	}
	for i, c := range cmds {
		if r := f.Apply(&raft.Log{Index: uint64(i + 1), Data: encodeCommand(c)}); r != nil {
			if err, ok := r.(error); ok {
				t.Fatalf("apply %d: %v", i, err)
			}
		}
	}
	if !reflect.DeepEqual(applied, []uint64{4}) {
		t.Fatalf("app applied %v", applied)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if sink.Len() > 4096 {
		t.Fatalf("snapshot of a tiny state is %d bytes", sink.Len())
	}
	g := newFSM(nil, nil, nil, newHub())
	sub := g.subscribe(16)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want, got := f.state(), g.state()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("restored state differs:\n%+v\n%+v", want, got)
	}
	if g.applied.Load() != uint64(len(cmds)) {
		t.Fatalf("applied index %d after restore", g.applied.Load())
	}
	// Subscribers learn the restored state.
	var kinds []string
	for len(sub.C()) > 0 {
		ev := <-sub.C()
		kinds = append(kinds, fmt.Sprint(ev.Kind, ":", ev.Member.ID))
	}
	if fmt.Sprint(kinds) != "[MemberJoined:a MemberJoined:b MemberExcluded:b WriterChanged:a]" {
		t.Fatalf("restore events %v", kinds)
	}
	// Corrupt snapshots are refused.
	bad := bytes.Replace(sink.Bytes(), []byte(`"Epoch":2`), []byte(`"Epoch":7`), 1)
	if err := newFSM(nil, nil, nil, newHub()).Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("restored a state whose history does not end at its epoch")
	}
}

func TestFSM_Snapshot_deferredUntilDurable(t *testing.T) {
	durable := uint64(0)
	f := newFSM(nil, nil, func() uint64 { return durable }, newHub())
	f.Apply(&raft.Log{Index: 1, Data: encodeApp([]byte("x"))})
	if _, err := f.Snapshot(); err == nil {
		t.Fatal("snapshot taken past the durable index")
	}
	durable = 1
	if _, err := f.Snapshot(); err != nil {
		t.Fatal(err)
	}
}

// TestState_apply_staleRejoinRejected: a Rejoin names the exclusion it
// answers; one resent after the member was excluded anew must not clear
// the new exclusion (the member has not reset for it). Likewise for
// ResetDone and the reset grant.
func TestState_apply_staleRejoinRejected(t *testing.T) {
	var st State
	must := func(i uint64, c command) {
		t.Helper()
		if _, err := st.apply(i, c); err != nil {
			t.Fatalf("index %d %s: %v", i, c.Kind, err)
		}
	}
	must(1, command{Kind: kindAddMember, ID: "w", RaftAddr: "w"})
	must(2, command{Kind: kindSetWriter, ID: "w", Epoch: 1})
	must(3, command{Kind: kindAddMember, ID: "c", RaftAddr: "c"})
	must(4, command{Kind: kindExclude, ID: "c", Epoch: 1})
	must(5, command{Kind: kindRejoin, ID: "c", Index: 4})
	must(6, command{Kind: kindExclude, ID: "c", Epoch: 1})
	if _, err := st.apply(7, command{Kind: kindRejoin, ID: "c", Index: 4}); !errors.Is(err, ErrRejected) {
		t.Fatalf("stale rejoin: %v, want ErrRejected", err)
	}
	if m, _ := st.Member("c"); !m.Excluded || m.ExcludedIndex != 6 {
		t.Fatalf("after a stale rejoin: %+v", m)
	}
	must(8, command{Kind: kindRejoin, ID: "c", Index: 6})
	must(9, command{Kind: kindResetStart, ID: "c", Epoch: 1})
	must(10, command{Kind: kindResetDone, ID: "c", Index: 9})
	must(11, command{Kind: kindResetStart, ID: "c", Epoch: 1})
	if _, err := st.apply(12, command{Kind: kindResetDone, ID: "c", Index: 9}); !errors.Is(err, ErrRejected) {
		t.Fatalf("stale reset done: %v, want ErrRejected", err)
	}
	if st.Resetting != "c" || st.ResettingIndex != 11 {
		t.Fatalf("after a stale reset done: slot %q at %d", st.Resetting, st.ResettingIndex)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestFSM_restoreEvents_diff: a snapshot that replaces a non-empty state
// tells subscribers every change: left, joined, excluded, rejoined,
// promoted, demoted, reset done and started, writer changed.
func TestFSM_restoreEvents_diff(t *testing.T) {
	old := State{Index: 10, Writer: "a", Epoch: 1, Resetting: "c", ResettingIndex: 9, Members: []Member{
		{ID: "a", Suffrage: Voter, Role: RoleWriter},
		{ID: "b", Suffrage: Voter, Role: RoleCopier, Excluded: true, ExcludedEpoch: 1, ExcludedIndex: 8},
		{ID: "c", Suffrage: Nonvoter, Role: RoleCopier},
		{ID: "x", Suffrage: Nonvoter, Role: RoleCopier},
	}}
	st := State{Index: 20, Writer: "c", Epoch: 2, Resetting: "d", ResettingIndex: 19, Members: []Member{
		{ID: "a", Suffrage: Nonvoter, Role: RoleCopier},
		{ID: "b", Suffrage: Voter, Role: RoleCopier},
		{ID: "c", Suffrage: Voter, Role: RoleWriter},
		{ID: "d", Suffrage: Nonvoter, Role: RoleCopier},
	}}
	var got []string
	for _, ev := range restoreEvents(old, st) {
		if ev.Index != 20 || ev.Epoch != 2 {
			t.Fatalf("event %v not of the restored index/epoch", ev)
		}
		got = append(got, ev.Kind.String()+":"+ev.Member.ID)
	}
	want := []string{"MemberLeft:x", "MemberDemoted:a", "MemberRejoined:b", "MemberPromoted:c",
		"MemberJoined:d", "ResetDone:c", "ResetStarted:d", "WriterChanged:c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v\nwant   %v", got, want)
	}
}

// TestFSM_ApplyBatch_runsAndOrder: a Raft batch mixing application and
// cluster commands (and other log types) reaches ApplyBatchFunc as runs of
// consecutive application commands, with cluster commands applied in
// between, every response in its place, and the applied index advanced.
func TestFSM_ApplyBatch_runsAndOrder(t *testing.T) {
	var order []string
	f := newFSM(nil, func(es []Entry) [][]byte {
		var rs [][]byte
		var idx []uint64
		for _, e := range es {
			idx = append(idx, e.Index)
			rs = append(rs, append([]byte("r:"), e.Cmd...))
		}
		order = append(order, fmt.Sprint("app", idx))
		return rs
	}, nil, newHub())
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: encodeCommand(command{Kind: kindAddMember, ID: "a", RaftAddr: "a"})},
		{Index: 2, Type: raft.LogCommand, Data: encodeApp([]byte("x"))},
		{Index: 3, Type: raft.LogCommand, Data: encodeApp([]byte("y"))},
		{Index: 4, Type: raft.LogConfiguration},
		{Index: 5, Type: raft.LogCommand, Data: encodeApp([]byte("z"))},
		{Index: 6, Type: raft.LogCommand, Data: encodeCommand(command{Kind: kindSetWriter, ID: "a", Epoch: 1})},
		{Index: 7, Type: raft.LogCommand, Data: encodeApp([]byte("w"))},
		{Index: 8, Type: raft.LogCommand, Data: []byte{99}},
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d responses for %d logs", len(out), len(logs))
	}
	if got := fmt.Sprint(order); got != "[app[2 3 5] app[7]]" {
		t.Fatalf("runs %s", got)
	}
	for i, want := range map[int]string{1: "r:x", 2: "r:y", 4: "r:z", 6: "r:w"} {
		if r, ok := out[i].(appResult); !ok || string(r.resp) != want {
			t.Fatalf("response %d = %#v, want %s", i, out[i], want)
		}
	}
	if out[0] != nil || out[5] != nil || out[3] != nil {
		t.Fatalf("cluster/config responses %#v %#v %#v", out[0], out[3], out[5])
	}
	if err, ok := out[7].(error); !ok || !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad entry response %#v", out[7])
	}
	st := f.state()
	if st.Writer != "a" || st.Epoch != 1 || f.applied.Load() != 8 {
		t.Fatalf("state writer %q epoch %d applied %d", st.Writer, st.Epoch, f.applied.Load())
	}
}

// TestState_writerChoice_staleReport: a member that starts from a fresh
// view (rejoins, finishes a reset, steps down as writer) has its overlay
// size zeroed, not measured, and may not have caught up: writer choice
// must not prefer it on its report from before the transition, only once
// it has reported again.
func TestState_writerChoice_staleReport(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name       string
		transition []command // b's transition; indices from 10 on
	}{
		{"rejoin", []command{
			{Kind: kindExclude, ID: "b", Epoch: 1},
			{Kind: kindRejoin, ID: "b", Index: 10},
		}},
		{"reset done", []command{
			{Kind: kindResetStart, ID: "b", Epoch: 1},
			{Kind: kindResetDone, ID: "b", Index: 10},
		}},
		{"writer stepped down", []command{
			{Kind: kindSetWriter, ID: "b", Epoch: 2},
			{Kind: kindSetWriter, ID: "w", Epoch: 3},
		}},
	}
	voters := map[string]bool{"w": true, "b": true, "c": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st State
			index := uint64(0)
			must := func(c command) {
				t.Helper()
				index++
				_, err := st.apply(index, c)
				require.NoError(t, err, "index %d %s", index, c.Kind)
			}
			for _, id := range []string{"w", "b", "c"} {
				must(command{Kind: kindAddMember, ID: id, RaftAddr: "r-" + id})
			}
			must(command{Kind: kindSetWriter, ID: "w", Epoch: 1})
			must(command{Kind: kindReportOverlay, ID: "b", Bytes: 64 * mib, Index: 5})
			must(command{Kind: kindReportOverlay, ID: "c", Bytes: 8 * mib, Index: 6})
			for index < 9 {
				must(command{Kind: kindReportOverlay, ID: "w", Bytes: 0, Index: index + 1})
			}
			w, ok := preferWriter(st, "w", voters, nil, []string{"w"})
			require.True(t, ok)
			require.Equal(t, "c", w.ID, "before the transition")

			for _, c := range tt.transition {
				must(c)
			}
			b, ok := st.Member("b")
			require.True(t, ok)
			assert.Zero(t, b.OverlayBytes)
			assert.Zero(t, b.ReportedIndex, "b must report again")
			require.NoError(t, st.Check())
			w, ok = preferWriter(st, "w", voters, nil, []string{"w"})
			require.True(t, ok)
			assert.Equal(t, "c", w.ID, "b has not reported since the transition")

			// A report b made before it applied its fresh start, delivered
			// after it, describes the old view: rejected, b stays out.
			_, err := st.apply(index+1, command{Kind: kindReportOverlay, ID: "b", Bytes: 1 * mib, Index: index - 1})
			require.ErrorIs(t, err, ErrRejected)
			b, _ = st.Member("b")
			assert.Zero(t, b.ReportedIndex, "a stale report was taken")
			index++

			must(command{Kind: kindReportOverlay, ID: "b", Bytes: 1 * mib, Index: index})
			w, ok = preferWriter(st, "w", voters, nil, []string{"w"})
			require.True(t, ok)
			assert.Equal(t, "b", w.ID, "b reported a smaller overlay since")
		})
	}
}
