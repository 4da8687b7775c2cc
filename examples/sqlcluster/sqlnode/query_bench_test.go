package sqlnode

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// BenchmarkNode_Query measures point reads by primary key on the read
// connections (Node.Query), and the precheck of a one-row INSERT request
// (Node.Precheck), on the adapter over a directory in the cluster's modes.
func BenchmarkNode_Query(b *testing.B) {
	for _, mode := range []Options{{JournalMode: "TRUNCATE", Synchronous: "FULL"}, {JournalMode: "WAL", Synchronous: "NORMAL"}} {
		b.Run("mode="+mode.JournalMode, func(b *testing.B) {
			opts := mode
			opts.VFS, opts.Path = registerFS(b, vfs.OS(b.TempDir())), "db"
			n := openTestNode(b, opts)
			if _, err := n.Apply(1, command(b, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")); err != nil {
				b.Fatal(err)
			}
			var entries []Entry
			for i := range 1000 {
				entries = append(entries, Entry{Index: uint64(i + 2), Command: command(b, fmt.Sprintf("INSERT INTO t(v) VALUES('%0100d')", i))})
			}
			if _, err := n.ApplyBatch(entries); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.Run("select", func(b *testing.B) {
				i := 0
				defer reportCPU(b)()
				for b.Loop() {
					i++
					rs, err := n.Query(ctx, []Statement{{SQL: "SELECT v FROM t WHERE id = ?", Params: []Param{{Value: int64(1 + i%1000)}}}})
					if err != nil || rs[0].Error != "" || len(rs[0].Values) != 1 {
						b.Fatal(err, rs)
					}
				}
			})
			b.Run("precheck_insert", func(b *testing.B) {
				req := Request{Statements: []Statement{{SQL: "INSERT INTO t(v) VALUES(?)", Params: []Param{{Value: "x"}}}}}
				defer reportCPU(b)()
				for b.Loop() {
					if err := n.Precheck(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// reportCPU reports the process's CPU time (user + system) per
// operation, which a machine shared with other work disturbs less than
// the elapsed time: defer reportCPU(b)() before the loop.
func reportCPU(b *testing.B) func() {
	t0 := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-t0).Nanoseconds())/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
