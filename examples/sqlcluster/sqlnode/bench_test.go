package sqlnode

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkNode_ApplyBatch measures applied single-row INSERT entries per
// second for each durability setting and batch size, on a directory (real
// fsync, through examples/sqlitevfs over vfs.OS) and on SQLite's own OS VFS
// (WAL with shared memory, which the adapter lacks).
func BenchmarkNode_ApplyBatch(b *testing.B) {
	type setup struct {
		name string
		opts Options
		fs   bool // through the adapter over vfs.OS
	}
	var setups []setup
	for _, d := range durabilities {
		setups = append(setups, setup{d.name, d.opts, true})
	}
	setups = append(setups, setup{"sqliteos_WAL_NORMAL", Options{JournalMode: "WAL", Synchronous: "NORMAL"}, false})
	cmd, err := Prepare(Request{Statements: []Statement{{SQL: "INSERT INTO t(v) VALUES(?)", Params: []Param{{Value: "some text of moderate length"}}}}}, Env{})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range setups {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", s.name, batch), func(b *testing.B) {
				dir := b.TempDir()
				opts := s.opts
				if s.fs {
					opts.VFS, opts.Path = registerFS(b, vfs.OS(dir)), "db"
				} else {
					opts.Path = filepath.Join(dir, "db")
				}
				n := openTestNode(b, opts)
				if _, err := n.Apply(1, command(b, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
					b.Fatal(err)
				}
				idx := uint64(1)
				entries := make([]Entry, batch)
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					k := min(batch, b.N-done)
					for i := range k {
						idx++
						entries[i] = Entry{Index: idx, Command: cmd}
					}
					if _, err := n.ApplyBatch(entries[:k]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
			})
		}
	}
}

// BenchmarkNode_ApplyRowidGuard measures what the largest-rowid guard
// (the update hook, see rowid.go) costs apply, against the same node with
// the hook removed, in the same run: entries of one single-row INSERT
// (batches of 16), and entries of one INSERT ... SELECT of 1000 rows.
func BenchmarkNode_ApplyRowidGuard(b *testing.B) {
	one, err := Prepare(Request{Statements: []Statement{{SQL: "INSERT INTO t(v) VALUES(?)", Params: []Param{{Value: "some text of moderate length"}}}}}, Env{})
	if err != nil {
		b.Fatal(err)
	}
	bulk := command(b, "INSERT INTO t(v) SELECT 'some text of moderate length' FROM generate_series(1, 1000)")
	for _, w := range []struct {
		name  string
		cmd   []byte
		batch int
		rows  int
	}{{"insert1", one, 16, 1}, {"insertselect1000", bulk, 1, 1000}} {
		for _, guard := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/guard=%v", w.name, guard), func(b *testing.B) {
				n := openTestNode(b, Options{VFS: registerFS(b, vfs.NewMem()), Path: "db"})
				mustApply(b, n, 1, command(b, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"))
				if !guard {
					n.mu.Lock()
					n.mu.conn.UpdateHook(nil)
					n.mu.Unlock()
				}
				idx := uint64(1)
				entries := make([]Entry, w.batch)
				b.ResetTimer()
				for done := 0; done < b.N; done += w.batch {
					k := min(w.batch, b.N-done)
					for i := range k {
						idx++
						entries[i] = Entry{Index: idx, Command: w.cmd}
					}
					if _, err := n.ApplyBatch(entries[:k]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*w.rows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkNode_ApplyRequest100 measures rows/s of entries that each hold
// one request of 100 single-row INSERTs with a parameter (the HTTP API's
// batch of 100), on a memory FS: apply's CPU, not the disk's.
func BenchmarkNode_ApplyRequest100(b *testing.B) {
	var req Request
	for range 100 {
		req.Statements = append(req.Statements, Statement{SQL: "INSERT INTO t(v) VALUES(?)", Params: []Param{{Value: "some text of moderate length"}}})
	}
	cmd, err := Prepare(req, Env{})
	if err != nil {
		b.Fatal(err)
	}
	n := openTestNode(b, Options{VFS: registerFS(b, vfs.NewMem()), Path: "db"})
	mustApply(b, n, 1, command(b, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"))
	idx := uint64(1)
	b.ResetTimer()
	for range b.N {
		idx++
		if _, err := n.Apply(idx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkNode_ApplyCheckpointLatency measures the latency of single
// INSERT entries in the default mode (WAL, NORMAL) on a directory (real
// fsync), with checkpoints in the apply (SQLite's wal_autocheckpoint) and
// in the background (the default), in the same run: the median, the
// 99.9th percentile and the largest apply, in microseconds. The commit
// that crosses wal_autocheckpoint (1000 pages) pays the checkpoint in the
// first mode.
func BenchmarkNode_ApplyCheckpointLatency(b *testing.B) {
	cmd, err := Prepare(Request{Statements: []Statement{{SQL: "INSERT INTO t(v) VALUES(?)", Params: []Param{{Value: strings.Repeat("x", 100)}}}}}, Env{})
	if err != nil {
		b.Fatal(err)
	}
	for _, inApply := range []bool{true, false} {
		b.Run(fmt.Sprintf("in_apply=%v", inApply), func(b *testing.B) {
			opts := Options{VFS: registerFS(b, vfs.OS(b.TempDir())), Path: "db", CheckpointInApply: inApply}
			n := openTestNode(b, opts)
			if _, err := n.Apply(1, command(b, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := n.Apply(uint64(i+2), cmd); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			us := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) }
			b.ReportMetric(us(0.5), "p50_us")
			b.ReportMetric(us(0.999), "p999_us")
			b.ReportMetric(us(1), "max_us")
			var slow time.Duration
			for _, d := range lat {
				if d > time.Millisecond {
					slow += d
				}
			}
			b.ReportMetric(float64(slow.Milliseconds())/float64(b.N)*1000, "ms_over_1ms/1000ops")
			st := n.CheckpointStats()
			b.ReportMetric(float64(st.Runs), "bg_checkpoints")
			b.ReportMetric(float64(st.Locked), "bg_locked")
		})
	}
}
