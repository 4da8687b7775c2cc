package raftcluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// step is one expected effect of decideStorage, without the memory it
// carries (checked separately where it matters).
type step struct {
	kind  storageActKind
	epoch uint64
	arg   string // the writer (Reset, BecomeCopier), member (Report), copiers (SetCopiers)
	cmd   cmdKind
	index uint64
	wait  time.Duration
}

func stepsOf(acts []storageAction) []step {
	var out []step
	for _, a := range acts {
		s := step{kind: a.kind, epoch: a.epoch, cmd: a.cmd, index: a.index, wait: a.wait}
		switch a.kind {
		case actReset, actBecomeCopier, actReport:
			s.arg = a.member.ID
		case actSetCopiers:
			for _, m := range a.copiers {
				s.arg += m.ID
			}
		}
		out = append(out, s)
	}
	return out
}

// TestDecideStorage: the storage loop's decisions, as a table of
// (memory, observation) → effects.
func TestDecideStorage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const delay = 300 * time.Millisecond
	members := func(ms ...Member) []Member { return ms }
	a, b, c := Member{ID: "a"}, Member{ID: "b", ReportedIndex: 5}, Member{ID: "c"}
	three := State{Writer: "a", Epoch: 2, Generation: 7, Members: members(a, b, c)}
	excluded := three
	excluded.Members = members(a, Member{ID: "b", Excluded: true, ExcludedIndex: 40, Generation: 3, JoinIndex: 9}, c)
	granted := three
	granted.Resetting, granted.ResettingIndex = "b", 41

	for _, tc := range []struct {
		name string
		mem  storageState
		obs  storageObs
		want []step
	}{{
		name: "not a member: nothing",
		obs:  storageObs{st: State{Writer: "a", Epoch: 1, Members: members(a)}, self: "z", now: t0, fenceDelay: delay},
	}, {
		name: "not a member, Guard open: fence only",
		obs:  storageObs{st: State{Writer: "a", Epoch: 1, Members: members(a)}, self: "z", guardEpoch: 1, now: t0, fenceDelay: delay},
		want: []step{{kind: actFence, epoch: 1}},
	}, {
		name: "new writer epoch, first seen: wait out the predecessor's lease",
		obs:  storageObs{st: three, self: "a", leader: true, now: t0, fenceDelay: delay},
		want: []step{{kind: actWait, wait: delay}},
	}, {
		name: "new writer epoch, partly waited: wait the rest",
		mem:  storageState{seenEpoch: 2, seenAt: t0.Add(-100 * time.Millisecond)},
		obs:  storageObs{st: three, self: "a", leader: true, now: t0, fenceDelay: delay},
		want: []step{{kind: actWait, wait: 200 * time.Millisecond}},
	}, {
		name: "writer after the delay: open the Guard, promote, set copiers, report",
		mem:  storageState{seenEpoch: 2, seenAt: t0.Add(-delay)},
		obs:  storageObs{st: three, self: "a", leader: true, now: t0, fenceDelay: delay},
		want: []step{{kind: actOpenGuard, epoch: 2}, {kind: actBecomeWriter, epoch: 2},
			{kind: actSetCopiers, epoch: 2, arg: "bc"}, {kind: actReport, arg: "a"}},
	}, {
		name: "writer, settled: report only",
		mem:  storageState{becameWriter: 2, copiersKey: [2]uint64{2, 7}},
		obs:  storageObs{st: three, self: "a", leader: true, guardEpoch: 2, now: t0, fenceDelay: delay},
		want: []step{{kind: actReport, arg: "a"}},
	}, {
		name: "writer, new generation: set copiers again",
		mem:  storageState{becameWriter: 2, copiersKey: [2]uint64{2, 6}},
		obs:  storageObs{st: three, self: "a", leader: true, guardEpoch: 2, now: t0, fenceDelay: delay},
		want: []step{{kind: actSetCopiers, epoch: 2, arg: "bc"}, {kind: actReport, arg: "a"}},
	}, {
		name: "writer no longer leader: fence, nothing else but the report",
		mem:  storageState{becameWriter: 2, copiersKey: [2]uint64{2, 7}},
		obs:  storageObs{st: three, self: "a", leader: false, guardEpoch: 2, now: t0, fenceDelay: delay},
		want: []step{{kind: actFence, epoch: 2}, {kind: actReport, arg: "a"}},
	}, {
		name: "deposed: the Guard of an older epoch closes, then copier of the new writer",
		obs:  storageObs{st: State{Writer: "b", Epoch: 3, Members: members(a, b, c)}, self: "a", guardEpoch: 2, now: t0, fenceDelay: delay},
		want: []step{{kind: actFence, epoch: 2}, {kind: actBecomeCopier, epoch: 3, arg: "b"}, {kind: actReport, arg: "a"}},
	}, {
		name: "fenced: become a copier again, even of a writer served before",
		mem:  storageState{copierKey: copierKey{3, "b"}},
		obs:  storageObs{st: State{Writer: "b", Epoch: 3, Members: members(a, b, c)}, self: "a", guardEpoch: 4, now: t0, fenceDelay: delay},
		want: []step{{kind: actFence, epoch: 4}, {kind: actBecomeCopier, epoch: 3, arg: "b"}, {kind: actReport, arg: "a"}},
	}, {
		name: "copier, new writer: become its copier",
		obs:  storageObs{st: three, self: "c", now: t0, fenceDelay: delay},
		want: []step{{kind: actBecomeCopier, epoch: 2, arg: "a"}, {kind: actReport, arg: "c"}},
	}, {
		name: "copier, same writer: report only",
		mem:  storageState{copierKey: copierKey{2, "a"}},
		obs:  storageObs{st: three, self: "c", now: t0, fenceDelay: delay},
		want: []step{{kind: actReport, arg: "c"}},
	}, {
		name: "copier, no writer yet: report only",
		obs:  storageObs{st: State{Members: members(a, c)}, self: "c", now: t0, fenceDelay: delay},
		want: []step{{kind: actReport, arg: "c"}},
	}, {
		name: "excluded copier: reset, then rejoin for the exclusion's index",
		obs:  storageObs{st: excluded, self: "b", now: t0, fenceDelay: delay},
		want: []step{{kind: actReset, epoch: 2, arg: "a"}, {kind: actReportReset, cmd: kindRejoin, index: 40}},
	}, {
		name: "excluded copier already reset for this exclusion: only the report is retried",
		mem:  storageState{resetFor: [3]uint64{3, 9, 40}},
		obs:  storageObs{st: excluded, self: "b", now: t0, fenceDelay: delay},
		want: []step{{kind: actReportReset, cmd: kindRejoin, index: 40}},
	}, {
		name: "granted the reset slot: reset, then ResetDone for the grant's index",
		obs:  storageObs{st: granted, self: "b", now: t0, fenceDelay: delay},
		want: []step{{kind: actReset, epoch: 2, arg: "a"}, {kind: actReportReset, cmd: kindResetDone, index: 41}},
	}, {
		name: "excluded writer: report only",
		obs: storageObs{st: State{Writer: "a", Epoch: 2, Members: members(Member{ID: "a", Excluded: true}, b)},
			self: "a", leader: true, now: t0, fenceDelay: delay},
		want: []step{{kind: actReport, arg: "a"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, stepsOf(decideStorage(tc.mem, tc.obs)))
		})
	}
}

// TestDecideStorage_memory: each effect carries the memory to keep once it
// succeeded, so that a failed effect is decided again on the next step and
// a succeeded one is not.
func TestDecideStorage_memory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := State{Writer: "a", Epoch: 2, Generation: 7, Members: []Member{{ID: "a"}, {ID: "b"}}}
	obs := storageObs{st: st, self: "a", leader: true, now: t0, fenceDelay: time.Second}

	acts := decideStorage(storageState{}, obs)
	require.Len(t, acts, 1)
	require.Equal(t, actWait, acts[0].kind)
	assert.Equal(t, storageState{seenEpoch: 2, seenAt: t0}, acts[0].after, "the first sighting is remembered")

	obs.now = t0.Add(time.Second)
	acts = decideStorage(acts[0].after, obs)
	require.Equal(t, []storageActKind{actOpenGuard, actBecomeWriter, actSetCopiers, actReport},
		[]storageActKind{acts[0].kind, acts[1].kind, acts[2].kind, acts[3].kind})
	assert.Zero(t, acts[0].after.becameWriter, "opening the Guard does not mean promoted")
	assert.Equal(t, uint64(2), acts[1].after.becameWriter)
	assert.Zero(t, acts[1].after.copiersKey, "promotion forgets the copiers passed before")
	assert.Equal(t, [2]uint64{2, 7}, acts[2].after.copiersKey)

	// BecomeWriter failed: the next step (memory of the open Guard) tries again.
	again := decideStorage(acts[0].after, storageObs{st: st, self: "a", leader: true, guardEpoch: 2, now: obs.now, fenceDelay: time.Second})
	assert.Equal(t, actBecomeWriter, again[1].kind)
}

// TestReportDue: when a member reports its overlay size.
func TestReportDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval = 10 * time.Second
	const mib = 1 << 20
	reported := Member{ReportedIndex: 3, Generation: 2, OverlayBytes: 16 * mib}
	recent := storageState{reportedGen: 2, lastReport: t0.Add(-time.Second)}
	old := storageState{reportedGen: 2, lastReport: t0.Add(-interval)}
	for _, tc := range []struct {
		name  string
		s     storageState
		me    Member
		bytes int64
		th    int64
		want  bool
	}{
		{"never reported", storageState{}, Member{}, 0, 0, true},
		{"never in this generation", storageState{reportedGen: 1}, reported, 16 * mib, 0, true},
		{"unchanged, interval passed", old, reported, 16 * mib, 0, false},
		{"changed by more than 1/8 and 1 MiB, within the interval", recent, reported, 19 * mib, 0, false},
		{"changed by more than 1/8 and 1 MiB, interval passed", old, reported, 19 * mib, 0, true},
		{"changed by 1 MiB but less than 1/8", old, reported, 17 * mib, 0, false},
		{"shrank by more than 1/8", old, reported, 12 * mib, 0, true},
		{"reached the threshold: at once", recent, reported, 20 * mib, 20 * mib, true},
		{"fell below the threshold, interval passed", old, Member{ReportedIndex: 3, Generation: 2, OverlayBytes: 20 * mib}, 20*mib - 1, 20 * mib, true},
		{"fell below the threshold, within the interval", recent, Member{ReportedIndex: 3, Generation: 2, OverlayBytes: 20 * mib}, 20*mib - 1, 20 * mib, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, reportDue(tc.s, tc.me, tc.bytes, tc.th, interval, t0))
		})
	}
}
