package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// Embedding: start three members in this process (loopback TCP, mutual
// TLS, shared storage in a temporary directory), write through the log,
// read on a copier at the linearizable level and through database/sql.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Shared storage in memory here; leave Shared nil for a directory.
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: 3, MemRaft: true, Shared: vfs.NewMem()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// An idempotent request may simply be sent again when its outcome is
	// unknown (leadership moved while it was in flight).
	req := sqlnode.Request{Statements: []sqlnode.Statement{
		{SQL: "CREATE TABLE IF NOT EXISTS greeting(id INTEGER PRIMARY KEY, text TEXT)"},
		{SQL: "INSERT OR REPLACE INTO greeting(id, text) VALUES(1, ?)", Params: []sqlnode.Param{{Value: "hello, shared storage"}}},
	}}
	_, err = c.Execute(ctx, req)
	for i := 0; i < 5 && errors.Is(err, raftcluster.ErrOutcomeUnknown); i++ {
		_, err = c.Execute(ctx, req)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := c.Writer(ctx)
	for _, n := range c.Nodes() {
		if n == w {
			continue
		}
		// A copier not ready (catching up, or resetting after its lease
		// lapsed on a loaded machine) says so: read again a little later.
		rs, err := n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT text FROM greeting"}})
		for i := 0; i < 50 && errors.Is(err, cluster.ErrNotReady); i++ {
			time.Sleep(100 * time.Millisecond) // a client's back-off
			rs, err = n.Query(ctx, cluster.LevelLinearizable, []sqlnode.Statement{{SQL: "SELECT text FROM greeting"}})
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("copier reads:", rs[0].Values[0][0])
		var text string
		if err := n.ReadOnlyDB().QueryRowContext(ctx, "SELECT text FROM greeting").Scan(&text); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("database/sql reads:", text)
		_, err = n.ReadOnlyDB().ExecContext(ctx, "DELETE FROM greeting")
		fmt.Println("database/sql write refused:", err != nil)
		break
	}
	// Output:
	// copier reads: hello, shared storage
	// database/sql reads: hello, shared storage
	// database/sql write refused: true
}
