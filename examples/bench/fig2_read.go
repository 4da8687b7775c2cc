package main

import (
	"fmt"
	"time"
)

// figRead measures figure 2: point selects per second on a copier (its
// SQLite reading its overlay first, then shared storage) ÷ the same
// selects on plain SQLite, on the same rows. g is figure 1's 1-copier
// group: its copier has an overlay from applying figure 1's writes.
// Baseline and copier alternate in blocks of readBlock selects.
func figRead(e *env, g *hcGroup, base *plainNode) error {
	const readBlock = 50
	c := g.copiers[0]
	read := func(db *kvDB, ids []int64) error {
		for _, id := range ids {
			if n, err := db.get(id); err != nil {
				return err
			} else if n != 100 {
				return fmt.Errorf("bench: row %d has %d bytes", id, n)
			}
		}
		return nil
	}
	var ratios []float64
	for round := range e.sc.Rounds {
		r := e.rng(300 + uint64(round))
		ids := make([]int64, e.sc.Reads)
		for i := range ids {
			ids[i] = 1 + r.Int64N(int64(e.sc.Rows))
		}
		var dBase, dCopier time.Duration
		for i := 0; i < len(ids); i += readBlock {
			blk := ids[i:min(i+readBlock, len(ids))]
			for k := range 2 {
				db, acc := base.db, &dBase
				if (k+i/readBlock)%2 == 1 {
					db, acc = c.db, &dCopier
				}
				d, err := timeIt(func() error { return read(db, blk) })
				if err != nil {
					return err
				}
				*acc += d
			}
		}
		ratio := dBase.Seconds() / dCopier.Seconds()
		ratios = append(ratios, ratio)
		e.p.Printf("fig2: round %d/%d: plain %.0f selects/s, copier ratio %.3f", round+1, e.sc.Rounds, float64(len(ids))/dBase.Seconds(), ratio)
	}
	e.rep.Set("copier_read_ratio", median(ratios))
	e.rep.Detail("fig2: copier overlay %d KiB while reading; per-round ratios %s", c.view.Stats().OverlayBytes>>10, fmtFloats(ratios))
	return nil
}
