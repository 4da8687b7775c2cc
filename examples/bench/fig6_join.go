//go:build !nocluster

package main

import (
	"fmt"
	"time"
)

// figJoin measures figure 6: the bytes carried between members (Raft and
// everything else, both directions, through the cluster's counting
// proxies) while a node is added, at growing database sizes. The database
// is grown with zeroblob rows (a tiny command, a large database), the log
// is compacted, then a member is added; it opens the shared database and
// replays the log from the index stored in it.
func figJoin(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig6-join", 4*time.Minute, "CREATE TABLE big(id INTEGER PRIMARY KEY, v BLOB)")
	if err != nil {
		return err
	}
	defer done()
	keys := map[int64]string{10 << 20: "join_bytes_10mib", 100 << 20: "join_bytes_100mib", 1 << 30: "join_bytes_1gib"}
	var measured []string
	for _, size := range e.sc.JoinSizes {
		// Grow the shared database to size, 1 MiB rows, at most 64 per request.
		for {
			have, err := bc.SharedBytes()
			if err != nil {
				return err
			}
			if have >= size {
				break
			}
			rows := min(64, (size-have)/(1<<20)+1)
			sql := fmt.Sprintf("INSERT INTO big(v) SELECT zeroblob(1048576) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < %d) SELECT x FROM c)", rows)
			if _, err := bc.exec(ctx, sql); err != nil {
				return err
			}
		}
		have, _ := bc.SharedBytes()
		if err := bc.Compact(ctx); err != nil {
			return fmt.Errorf("bench: compact: %w", err)
		}
		// Measure the join alone: wait until no member is still catching
		// up or reopening after the fill (its traffic is not the join's).
		if err := bc.settle(ctx, 20*time.Second); err != nil {
			return err
		}
		before, stabBefore := bc.TransportBytes(), bc.StabilityBytes()
		t0 := time.Now()
		n, err := bc.AddNode(ctx)
		if err != nil {
			return fmt.Errorf("bench: add a node at %d MiB: %w", have>>20, err)
		}
		moved, stab := bc.TransportBytes()-before, bc.StabilityBytes()-stabBefore
		key, ok := keys[size]
		if !ok {
			key = "join_bytes_10mib"
			e.rep.Note(key, fmt.Sprintf("at %d MiB (%s scale)", size>>20, e.sc.Name))
		}
		e.rep.Set(key, float64(moved))
		measured = append(measured, key)
		e.p.Printf("fig6: added %s to a %d MiB database in %v: %d bytes moved (%d on stability connections)", n.ID(), have>>20, time.Since(t0).Round(time.Millisecond), moved, stab)
		e.rep.Detail("fig6: join of member %d at %d MiB of shared storage: %d B carried between members during the join, %d B of them on stability connections (copier join handshake, rounds, heartbeats), the rest Raft (log tail, heartbeats of the others) and forwarded requests, TLS handshakes included; %v", len(bc.Nodes()), have>>20, moved, stab, time.Since(t0).Round(time.Millisecond))
	}
	for _, k := range []string{"join_bytes_10mib", "join_bytes_100mib", "join_bytes_1gib"} {
		if _, ok := e.rep.Value(k); !ok {
			e.rep.NotMeasured(k, fmt.Sprintf("%s scale stops at %d MiB", e.sc.Name, e.sc.JoinSizes[len(e.sc.JoinSizes)-1]>>20))
		}
	}
	return nil
}
