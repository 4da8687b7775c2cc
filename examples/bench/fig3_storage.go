package main

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// figStorage measures the storage half of figure 3: bytes written and
// sync calls that reach the database's persistent storage, for the same
// sc.Inserts single-row inserts of 100 B (one transaction each) on
//
//   - one plain node;
//   - three plain nodes, each with its own copy (shared-nothing);
//   - a 3-node holeycow group: a writer and two copiers over one shared
//     directory. The copiers' overlays are in memory, so the shared
//     directory is all the persistent storage they have.
//
// Every node applies the ops on its own goroutine.
func figStorage(e *env) error {
	mark := e.mark()
	defer e.closeTo(mark)
	n := e.sc.Inserts
	r := e.rng(400)
	ops := make([]op, n)
	for i := range ops {
		ops[i] = op{insert: true, id: int64(i + 1), v: value(r)}
	}

	var one *plainNode
	var nothing []*plainNode
	for i := range 4 {
		dir, err := e.subdir(fmt.Sprintf("fig3-plain%d", i))
		if err != nil {
			return err
		}
		p, err := e.newPlain(dir)
		if err != nil {
			return err
		}
		if i == 0 {
			one = p
		} else {
			nothing = append(nothing, p)
		}
	}
	dir, err := e.subdir("fig3-holeycow")
	if err != nil {
		return err
	}
	g, err := e.newHCGroup(dir, 2)
	if err != nil {
		return err
	}
	// Counting starts after every node has opened its (empty) database.
	start := map[*ioCounter]ioCount{}
	counters := []*ioCounter{one.count, g.count}
	for _, p := range nothing {
		counters = append(counters, p.count)
	}
	for _, c := range counters {
		start[c] = c.snapshot()
	}
	dbs := []*kvDB{one.db, g.writer.db}
	for _, p := range nothing {
		dbs = append(dbs, p.db)
	}
	for _, c := range g.copiers {
		dbs = append(dbs, c.db)
	}
	var done atomic.Int64
	errc := make(chan error, len(dbs))
	t0 := time.Now()
	for _, db := range dbs {
		go func() {
			const chunk = 500
			for i := 0; i < len(ops); i += chunk {
				if err := db.run(ops[i:min(i+chunk, len(ops))]); err != nil {
					errc <- err
					return
				}
				done.Add(int64(min(chunk, len(ops)-i)))
			}
			errc <- nil
		}()
	}
	var errs []error
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for pending := len(dbs); pending > 0; {
		select {
		case err := <-errc:
			errs = append(errs, err)
			pending--
		case <-tick.C:
			e.p.Printf("fig3: %d/%d inserts applied over %d nodes", done.Load(), int64(len(ops)*len(dbs)), len(dbs))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.p.Printf("fig3: %d inserts on 7 nodes in %.1fs", n, time.Since(t0).Seconds())
	if err := g.checkSame(); err != nil {
		return err
	}

	oneIO := one.count.snapshot().sub(start[one.count])
	hcIO := g.count.snapshot().sub(start[g.count])
	var snIO ioCount
	for _, p := range nothing {
		snIO = snIO.add(p.count.snapshot().sub(start[p.count]))
	}
	e.rep.Set("bytes_ratio_3n_vs_1n", float64(hcIO.Bytes)/float64(oneIO.Bytes))
	e.rep.Set("fsync_ratio_3n_vs_1n", float64(hcIO.Syncs)/float64(oneIO.Syncs))
	e.rep.Set("bytes_ratio_vs_shared_nothing", float64(hcIO.Bytes)/float64(snIO.Bytes))
	e.rep.Detail("fig3: %d inserts of 100 B: 1 plain node %d B / %d syncs; 3-node holeycow %d B / %d syncs (copier overlays in memory: %d KiB, 0 B to disk); 3-node shared-nothing %d B / %d syncs",
		n, oneIO.Bytes, oneIO.Syncs, hcIO.Bytes, hcIO.Syncs, g.overlayBytes()>>10, snIO.Bytes, snIO.Syncs)
	e.rep.Note("bytes_ratio_3n_vs_1n", fmt.Sprintf("over %d inserts of 100 B", e.sc.Inserts))
	return nil
}
