//go:build !nocluster

package main

import (
	"time"
)

// figGC measures figure 8: a copier's garbage collection, from asking for
// it (RequestReset) until the copier has closed its database, dropped its
// overlay through the writer's handshake, reopened on shared storage and
// caught up (Stats().Resets counts it), while the overlay holds the
// writes of the rounds before.
func figGC(e *env) error {
	bc, ctx, done, err := e.figureCluster("fig8-gc", 3*time.Minute, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
	if err != nil {
		return err
	}
	defer done()
	var ms []float64
	var overlays []float64
	id := int64(0)
	for round := range e.sc.GCRounds {
		// Grow the copiers' overlays: a few hundred KiB of writes.
		for range 20 {
			id++
			if _, err := bc.exec(ctx, "INSERT INTO t(id, v) VALUES (?, zeroblob(16384))", id); err != nil {
				return err
			}
		}
		c, err := bc.copier(ctx)
		if err != nil {
			return err
		}
		st := c.Stats()
		overlays = append(overlays, float64(st.OverlayBytes>>10))
		if err := c.RequestReset(); err != nil {
			return err
		}
		d, err := poll(ctx, time.Minute, func() (bool, error) {
			s := c.Stats()
			return s.Resets > st.Resets && s.Ready, nil
		})
		if err != nil {
			return err
		}
		ms = append(ms, float64(d.Microseconds())/1000)
		e.p.Printf("fig8: reset %d/%d of %s (overlay %d KiB): %.0f ms", round+1, e.sc.GCRounds, c.ID(), st.OverlayBytes>>10, ms[len(ms)-1])
	}
	e.rep.Set("gc_ms", median(ms))
	e.rep.Detail("fig8: %d resets, median of %s ms, overlays before reset (KiB) %s", len(ms), fmtFloats(ms), fmtFloats(overlays))
	return nil
}
