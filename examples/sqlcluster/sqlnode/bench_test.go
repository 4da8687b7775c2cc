package sqlnode

import (
	"fmt"
	"path/filepath"
	"testing"

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
