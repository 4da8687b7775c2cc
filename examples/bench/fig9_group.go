//go:build !nocluster

package main

import (
	"fmt"
	"sync/atomic"
	"time"
)

// groupWriters is figure 9's number of concurrent clients.
const groupWriters = 16

// figGroupCommit measures figure 9: acknowledged single-row inserts per
// second from 16 concurrent clients to a 3-member replicated SQL cluster,
// with group commit (every member applies the entries that Raft commits
// together in one transaction) ÷ one entry per transaction
// (cluster.Node.SetGroupCommit(false) on every member). Both modes run on
// the same cluster, in interleaved rounds whose order alternates; the
// ratio is of the median rates.
func figGroupCommit(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig9-group", 5*time.Minute, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
	if err != nil {
		return err
	}
	defer done()
	r := e.rng(900)
	var next atomic.Int64 // row ids, unique over the figure
	// round inserts sc.GroupInserts rows with every member in the given
	// mode and returns the rate and the writer's entries per transaction.
	round := func(group bool) (rate, perTx float64, err error) {
		for _, n := range bc.Nodes() {
			n.SetGroupCommit(group)
		}
		w, err := bc.Writer(ctx)
		if err != nil {
			return 0, 0, err
		}
		vals := make([][]byte, e.sc.GroupInserts)
		for i := range vals {
			vals[i] = value(r)
		}
		st0 := w.Stats()
		t0 := time.Now()
		err = clients(ctx, groupWriters, e.sc.GroupInserts, func(i int) error {
			_, err := bc.exec(ctx, "INSERT INTO t(id, v) VALUES (?, ?)", next.Add(1), vals[i])
			return err
		})
		d := time.Since(t0)
		if err != nil {
			return 0, 0, err
		}
		st1 := w.Stats()
		if tx := st1.ApplyBatches - st0.ApplyBatches; tx > 0 {
			perTx = float64(st1.ApplyBatchEntries-st0.ApplyBatchEntries) / float64(tx)
		}
		return float64(e.sc.GroupInserts) / d.Seconds(), perTx, nil
	}
	var on, off, onPerTx, offPerTx []float64
	for i := range e.sc.GroupRounds {
		for _, group := range []bool{i%2 == 0, i%2 != 0} {
			rate, perTx, err := round(group)
			if err != nil {
				return fmt.Errorf("bench: round %d (group commit %v): %w", i+1, group, err)
			}
			if group {
				on, onPerTx = append(on, rate), append(onPerTx, perTx)
			} else {
				off, offPerTx = append(off, rate), append(offPerTx, perTx)
			}
			e.p.Printf("fig9: round %d/%d, group commit %-5v: %.0f inserts/s, %.1f entries per transaction on the writer",
				i+1, e.sc.GroupRounds, group, rate, perTx)
		}
	}
	for _, n := range bc.Nodes() {
		n.SetGroupCommit(true)
	}
	e.rep.Set("group_commit_ratio", median(on)/median(off))
	e.rep.Detail("fig9: %d rounds of %d single-row inserts of 100 B by %d clients per mode: group commit %.0f inserts/s (median; %.1f entries per transaction on the writer), one entry per transaction %.0f inserts/s (%.1f)",
		e.sc.GroupRounds, e.sc.GroupInserts, groupWriters, median(on), median(onPerTx), median(off), median(offPerTx))
	return nil
}
