//go:build !nocluster

package main

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// figRaftIO measures the Raft half of figure 3 and the total write
// amplification, for sc.RaftInserts single-row inserts of 100 B, each
// its own request, sent by a few concurrent clients to the replicated SQL
// cluster (3 voters, BoltDB logs). Snapshots are held off so that the log
// keeps every entry and its growth is its size.
//
//   - raft_log_bytes_per_write: growth of the Raft directories ÷ voters ÷
//     inserts.
//   - write_amplification: (growth of every node's Raft directory + bytes
//     written to the database's persistent storage) ÷ logical bytes
//     inserted. The cluster does not let a caller wrap its shared FS, so
//     the database's part is counted on a side run of the same engine
//     (sqlnode, the same command bytes applied one entry per transaction,
//     the same SQLite settings) over a counting FS; figure 3's storage
//     half shows that a holeycow writer writes exactly what a plain node
//     writes.
func figRaftIO(e *env) error {
	if raceEnabled {
		for _, k := range []string{"raft_log_bytes_per_write", "write_amplification"} {
			e.rep.NotMeasured(k, "built with -race the bench cluster keeps its Raft log in memory")
		}
		return nil
	}
	mark := e.mark()
	defer e.closeTo(mark)
	bc, err := e.startCluster("fig3-raft", 3, func(o *localcluster.Options) {
		o.SnapshotThreshold = 1 << 40
		o.TrailingLogs = 1 << 40
		// File growth measures what a BoltDB log holds; raft-wal (the
		// default) preallocates its segments, so their size says nothing.
		o.LogStore = raftcluster.LogStoreBolt
	})
	if err != nil {
		return err
	}
	ctx, cancel := e.withTimeout(10 * time.Minute)
	defer cancel()
	const schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)"
	if _, err := bc.exec(ctx, schema); err != nil {
		return err
	}
	n := e.sc.RaftInserts
	r := e.rng(600)
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = value(r)
	}
	insert := func(i int) sqlnode.Request {
		return sqlnode.Request{Statements: []sqlnode.Statement{{SQL: "INSERT INTO t(id, v) VALUES (?, ?)", Params: []sqlnode.Param{{Value: int64(i + 1)}, {Value: vals[i]}}}}}
	}

	// The side run: the engine alone, over a counting FS, concurrently.
	side := make(chan error, 1)
	var sideIO ioCount
	go func() {
		io, err := sideEngine(e, schema, n, insert)
		sideIO = io
		side <- err
	}()

	raft0, err := bc.raftBytes()
	if err != nil {
		return err
	}
	const nClients = 8
	var done atomic.Int64
	t0 := time.Now()
	err = clients(ctx, nClients, n, func(i int) error {
		if _, err := bc.execReq(ctx, insert(i)); err != nil {
			return err
		}
		if d := done.Add(1); d%5000 == 0 {
			e.p.Printf("fig3: %d/%d replicated inserts", d, n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	e.p.Printf("fig3: %d replicated inserts in %.1fs; waiting for every member to apply them", n, elapsed.Seconds())
	// Let every member apply the last entry before measuring.
	w, err := bc.Writer(ctx)
	if err != nil {
		return err
	}
	last := w.Stats().AppliedIndex
	for _, m := range bc.Nodes() {
		if _, err := poll(ctx, 30*time.Second, func() (bool, error) { return m.Stats().AppliedIndex >= last, nil }); err != nil {
			return fmt.Errorf("bench: %s catching up: %w", m.ID(), err)
		}
	}
	raft1, err := bc.raftBytes()
	if err != nil {
		return err
	}
	e.p.Printf("fig3: members caught up; waiting for the engine side run")
	if err := <-side; err != nil {
		return fmt.Errorf("bench: side run of the engine: %w", err)
	}
	e.p.Printf("fig3: side run done; closing the cluster")
	dRaft := raft1 - raft0
	logical := int64(n) * 100
	e.rep.Set("raft_log_bytes_per_write", float64(dRaft)/3/float64(n))
	e.rep.Set("write_amplification", float64(dRaft+sideIO.Bytes)/float64(logical))
	e.rep.Detail("fig3 cluster: %d replicated inserts of 100 B in %.1fs (%d clients): Raft directories grew %d B over 3 voters (BoltDB file growth); the engine (sqlnode, one entry per transaction) wrote %d B to the database's storage in %d syncs; logical %d B",
		n, elapsed.Seconds(), nClients, dRaft, sideIO.Bytes, sideIO.Syncs, logical)
	note := "Raft: BoltDB growth in the cluster; database: the same engine and commands on a counting FS"
	if n != 66000 {
		note = fmt.Sprintf("%d inserts (scaled down from 66k); %s", n, note)
	}
	e.rep.Note("write_amplification", note)
	return nil
}

// sideEngine applies the schema and n insert requests, one log entry per
// transaction, to a sqlnode engine over a counting OS directory, and
// returns what reached the disk after the schema.
func sideEngine(e *env, schema string, n int, insert func(int) sqlnode.Request) (ioCount, error) {
	dir, err := e.subdir("fig3-engine")
	if err != nil {
		return ioCount{}, err
	}
	fsys, cnt := withCounting(osFS(dir))
	name, err := registerOnce(fsys)
	if err != nil {
		return ioCount{}, err
	}
	defer unregister(name)
	node, err := sqlnode.Open(sqlnode.Options{VFS: name, Path: dbName, JournalMode: "TRUNCATE", Synchronous: "FULL"}) // as figure 3's storage half (sqlitevfs's defaults); the cluster itself runs WAL
	if err != nil {
		return ioCount{}, err
	}
	defer node.Close()
	cmd, err := sqlnode.Prepare(sqlnode.Request{Statements: []sqlnode.Statement{{SQL: schema}}}, sqlnode.Env{})
	if err != nil {
		return ioCount{}, err
	}
	if _, err := node.Apply(1, cmd); err != nil {
		return ioCount{}, err
	}
	start := cnt.snapshot()
	for i := range n {
		cmd, err := sqlnode.Prepare(insert(i), sqlnode.Env{})
		if err != nil {
			return ioCount{}, err
		}
		resp, err := node.Apply(uint64(i+2), cmd)
		if err != nil {
			return ioCount{}, err
		}
		if resp.RolledBack || resp.Error != "" {
			return ioCount{}, fmt.Errorf("bench: side insert %d: %+v", i+1, resp)
		}
	}
	return cnt.snapshot().sub(start), nil
}
