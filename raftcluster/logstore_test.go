package raftcluster_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/raftcluster"
)

func openStores(t testing.TB, dir string, kind raftcluster.LogStoreKind) (*raftcluster.Stores, func()) {
	t.Helper()
	st, closers, err := raftcluster.OpenDiskStores(dir, kind)
	require.NoError(t, err)
	return st, func() {
		for i := len(closers) - 1; i >= 0; i-- {
			require.NoError(t, closers[i].Close())
		}
	}
}

// TestLogStore_reopen stores entries and a term with each kind, closes
// the stores and reopens them in the same process (raft-wal's own Close
// leaves its meta DB locked: the node closes it itself).
func TestLogStore_reopen(t *testing.T) {
	for _, kind := range []raftcluster.LogStoreKind{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			st, closeFn := openStores(t, dir, kind)
			require.NoError(t, st.Log.StoreLogs(entries(1, 5)))
			require.NoError(t, st.Stable.SetUint64([]byte("CurrentTerm"), 7))
			closeFn()

			done := make(chan struct{})
			var st2 *raftcluster.Stores
			var close2 func()
			go func() {
				defer close(done)
				st2, close2 = openStores(t, dir, kind)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("reopening the stores blocked (a file lock left behind?)")
			}
			defer close2()
			last, err := st2.Log.LastIndex()
			require.NoError(t, err)
			require.Equal(t, uint64(5), last)
			var l raft.Log
			require.NoError(t, st2.Log.GetLog(3, &l))
			require.Equal(t, entries(3, 3)[0].Data, l.Data)
			term, err := st2.Stable.GetUint64([]byte("CurrentTerm"))
			require.NoError(t, err)
			require.Equal(t, uint64(7), term)
		})
	}
}

// TestLogStore_reopenAfterTailDelete: a follower that led before drops
// the uncommitted tail of its log (raft's "clearing log suffix",
// DeleteRange up to the last index) and later restarts: the log opens
// and reads. raft-wal v0.4.0 marked the tail segment sealed without
// writing its index, and panicked at the next start in raft.NewRaft
// ("sealed segment has no index block", hashicorp/raft-wal#31, fixed in
// v0.4.1); TestServe_availability's SIGKILLs of the writer hit it.
func TestLogStore_reopenAfterTailDelete(t *testing.T) {
	for _, kind := range []raftcluster.LogStoreKind{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			st, closeFn := openStores(t, dir, kind)
			require.NoError(t, st.Log.StoreLogs(entries(1, 10)))
			require.NoError(t, st.Log.DeleteRange(9, 10)) // the uncommitted tail
			require.NoError(t, st.Log.StoreLogs(entries(9, 12)))
			closeFn()

			st2, close2 := openStores(t, dir, kind)
			defer close2()
			first, err := st2.Log.FirstIndex()
			require.NoError(t, err)
			last, err := st2.Log.LastIndex()
			require.NoError(t, err)
			require.Equal(t, []uint64{1, 12}, []uint64{first, last})
			for i := first; i <= last; i++ {
				var l raft.Log
				require.NoError(t, st2.Log.GetLog(i, &l), "entry %d", i)
				require.Equal(t, entries(i, i)[0].Data, l.Data)
			}
		})
	}
}

// TestLogStore_compactedUnreadable: entries before the head of a
// compacted log (raft's DeleteRange from the first index after a
// snapshot) are not found, with either kind. raft-wal alone still serves
// them from its tail segment when the compaction dropped no whole
// segment; hashicorp/raft's leader then sent a member that fell behind
// the compaction the whole log it missed instead of a snapshot.
func TestLogStore_compactedUnreadable(t *testing.T) {
	for _, kind := range []raftcluster.LogStoreKind{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			st, closeFn := openStores(t, t.TempDir(), kind)
			defer closeFn()
			require.NoError(t, st.Log.StoreLogs(entries(1, 100)))
			require.NoError(t, st.Log.DeleteRange(1, 60))
			first, err := st.Log.FirstIndex()
			require.NoError(t, err)
			require.Equal(t, uint64(61), first)
			var l raft.Log
			for _, i := range []uint64{1, 30, 60} {
				require.ErrorIs(t, st.Log.GetLog(i, &l), raft.ErrLogNotFound, "compacted entry %d", i)
			}
			require.NoError(t, st.Log.GetLog(61, &l))
			require.Equal(t, entries(61, 61)[0].Data, l.Data)
			if m, ok := st.Log.(raft.MonotonicLogStore); kind == raftcluster.LogStoreWAL && (!ok || !m.IsMonotonic()) {
				t.Error("the WAL log store no longer tells raft it is monotonic")
			}
		})
	}
}

// TestLogStore_mismatch: a DataDir keeps the log store kind it was
// created with; opening it with the other is refused, never started with
// an empty log beside the stored term.
func TestLogStore_mismatch(t *testing.T) {
	for _, tc := range []struct{ created, reopened raftcluster.LogStoreKind }{
		{raftcluster.LogStoreBolt, raftcluster.LogStoreWAL},
		{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt},
	} {
		t.Run(fmt.Sprintf("%s_then_%s", tc.created, tc.reopened), func(t *testing.T) {
			dir := t.TempDir()
			st, closeFn := openStores(t, dir, tc.created)
			require.NoError(t, st.Log.StoreLogs(entries(1, 3)))
			closeFn()
			_, closers, err := raftcluster.OpenDiskStores(dir, tc.reopened)
			require.ErrorIs(t, err, raftcluster.ErrLogStoreMismatch)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Empty(t, closers)
			// The original kind still opens, with its log.
			st, closeFn = openStores(t, dir, tc.created)
			defer closeFn()
			last, err := st.Log.LastIndex()
			require.NoError(t, err)
			require.Equal(t, uint64(3), last)
		})
	}
	t.Run("empty_bolt_then_wal", func(t *testing.T) {
		// A bolt DataDir that never stored an entry may become a WAL one.
		dir := t.TempDir()
		_, closeFn := openStores(t, dir, raftcluster.LogStoreBolt)
		closeFn()
		_, closeFn = openStores(t, dir, raftcluster.LogStoreWAL)
		closeFn()
	})
	_, err := raftcluster.ParseLogStoreKind("rocks")
	require.ErrorIs(t, err, raftcluster.ErrInvalidConfig)
	k, err := raftcluster.ParseLogStoreKind("")
	require.NoError(t, err)
	require.Equal(t, raftcluster.LogStoreWAL, k)
}

func entries(first, last uint64) []*raft.Log {
	var out []*raft.Log
	for i := first; i <= last; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand,
			Data: bytes.Repeat([]byte{byte(i)}, 128), AppendedAt: time.Unix(0, 0)})
	}
	return out
}

// BenchmarkLogStore appends 128-byte entries to each log store on the
// disk under TMPDIR, 1 and 16 per StoreLogs call (each call is one
// durable append, as Raft makes per batch), and reports entries/s and the
// bytes the kernel wrote per entry (write_bytes of /proc/self/io: the
// data, the store's own metadata and whatever its syncs flushed). The
// ratios raft-wal ÷ raft-boltdb of one run are logged at the end.
// write_bytes counts a whole page-cache folio each time a write dirties
// it: on kernels whose ext4 uses large folios, raft-wal's segments
// (written whole at creation) count up to the folio per append, so the
// bytes are an upper bound; examples/bench measures bytes on a block
// device instead.
func BenchmarkLogStore(b *testing.B) {
	if _, err := procWriteBytes(); err != nil {
		b.Skipf("no write_bytes in /proc/self/io: %v", err)
	}
	type key struct {
		kind raftcluster.LogStoreKind
		per  int
	}
	type fig struct{ perSec, bytesPer float64 }
	got := map[key]fig{}
	for _, per := range []int{1, 16} {
		for _, kind := range []raftcluster.LogStoreKind{raftcluster.LogStoreWAL, raftcluster.LogStoreBolt} {
			b.Run(fmt.Sprintf("store=%s/per_call=%d", kind, per), func(b *testing.B) {
				st, closeFn := openStores(b, b.TempDir(), kind)
				defer closeFn()
				next := uint64(1)
				batch := func() []*raft.Log {
					es := entries(next, next+uint64(per)-1)
					next += uint64(per)
					return es
				}
				// Warm up: the first appends create files and buckets.
				for range 8 {
					require.NoError(b, st.Log.StoreLogs(batch()))
				}
				w0, err := procWriteBytes()
				require.NoError(b, err)
				b.ResetTimer()
				start := time.Now()
				for b.Loop() {
					require.NoError(b, st.Log.StoreLogs(batch()))
				}
				el := time.Since(start)
				b.StopTimer()
				w1, err := procWriteBytes()
				require.NoError(b, err)
				n := float64(b.N * per)
				f := fig{perSec: n / el.Seconds(), bytesPer: float64(w1-w0) / n}
				b.ReportMetric(f.perSec, "entries/s")
				b.ReportMetric(f.bytesPer, "B/entry")
				got[key{kind, per}] = f
			})
		}
	}
	for _, per := range []int{1, 16} {
		w, ok1 := got[key{raftcluster.LogStoreWAL, per}]
		bo, ok2 := got[key{raftcluster.LogStoreBolt, per}]
		if !ok1 || !ok2 || bo.perSec == 0 || w.bytesPer == 0 {
			continue
		}
		b.Logf("%d per call: raft-wal %.0f entries/s, %.0f B/entry; raft-boltdb %.0f entries/s, %.0f B/entry; "+
			"entries/s wal÷bolt %.2f, bytes/entry bolt÷wal %.2f",
			per, w.perSec, w.bytesPer, bo.perSec, bo.bytesPer, w.perSec/bo.perSec, bo.bytesPer/w.bytesPer)
	}
}

// procWriteBytes returns write_bytes of /proc/self/io: the bytes this
// process caused to be sent to storage.
func procWriteBytes() (int64, error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("write_bytes: ")); ok {
			return strconv.ParseInt(string(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no write_bytes line")
}
