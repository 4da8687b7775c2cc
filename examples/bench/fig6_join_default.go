//go:build !nocluster

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// figJoinDefault measures the join cost a user gets without tuning: the
// database is loaded with rows of 1 KiB, so that the Raft log holds as
// many bytes as the database (the opposite of figJoin's zeroblobs); no
// manual compaction, default snapshot settings; then a member is added
// at once. The bytes carried between members during the join, and those
// in the new member's Raft log store, stay small only if the log was
// compacted by default.
func figJoinDefault(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig6-join-default", 4*time.Minute, "CREATE TABLE kv(id INTEGER PRIMARY KEY, v TEXT)")
	if err != nil {
		return err
	}
	defer done()
	const perReq = 16
	pad := strings.Repeat("v", 1000)
	reqs := int(e.sc.JoinDefaultBytes / (perReq << 10))
	err = clients(ctx, 8, reqs, func(i int) error {
		var r sqlnode.Request
		for k := range perReq {
			r.Statements = append(r.Statements, sqlnode.Statement{SQL: "INSERT INTO kv(id, v) VALUES (?, ?)",
				Params: []sqlnode.Param{{Value: i*perReq + k}, {Value: pad}}})
		}
		_, err := bc.execReq(ctx, r)
		return err
	})
	if err != nil {
		return err
	}
	have, err := bc.SharedBytes()
	if err != nil {
		return err
	}
	before := bc.TransportBytes()
	t0 := time.Now()
	n, err := bc.AddNode(ctx)
	if err != nil {
		return fmt.Errorf("bench: add a node after a %d MiB load: %w", have>>20, err)
	}
	moved := bc.TransportBytes() - before
	logBytes := int64(-1)
	if fi, err := os.Stat(filepath.Join(bc.Dir(), "raft", n.ID(), "raft.db")); err == nil {
		logBytes = fi.Size()
	}
	e.rep.Set("join_bytes_100mib_default", float64(moved))
	if e.sc.JoinDefaultBytes != 100<<20 {
		e.rep.Note("join_bytes_100mib_default", fmt.Sprintf("after %d MiB (%s scale)", e.sc.JoinDefaultBytes>>20, e.sc.Name))
	}
	e.p.Printf("fig6: default settings, %d MiB loaded in %d-row requests of 1 KiB rows: join moved %d bytes in %v; new member's raft.db %d bytes",
		have>>20, perReq, moved, time.Since(t0).Round(time.Millisecond), logBytes)
	e.rep.Detail("fig6: default settings, join right after a %d MiB load (log about as large as the database, no manual compaction): %d B carried between members, new member's Raft log store %d B (-1: in memory)",
		have>>20, moved, logBytes)
	return nil
}
