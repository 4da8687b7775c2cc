package main

import (
	"fmt"
	"path/filepath"
	"time"
)

// kvTemplate builds, once per run, a database of sc.Rows rows of 100 B in
// its own directory and returns the file's path; figures 1 and 2 copy it.
func (e *env) kvTemplate() (string, int64, error) {
	dir, err := e.subdir("template")
	if err != nil {
		return "", 0, err
	}
	mark := e.mark()
	n, err := e.newPlain(dir)
	if err != nil {
		return "", 0, err
	}
	r := e.rng(1)
	if err := n.db.conn.Exec("BEGIN"); err != nil {
		return "", 0, err
	}
	for i := range e.sc.Rows {
		if err := n.db.insert(int64(i+1), value(r)); err != nil {
			return "", 0, err
		}
	}
	if err := n.db.conn.Exec("COMMIT"); err != nil {
		return "", 0, err
	}
	var pages int64
	s, _, err := n.db.conn.Prepare("PRAGMA page_count")
	if err != nil {
		return "", 0, err
	}
	if s.Step() {
		pages = s.ColumnInt64(0)
	}
	s.Close()
	if err := e.closeTo(mark); err != nil {
		return "", 0, err
	}
	return filepath.Join(dir, dbName), pages, nil
}

// fig1Setup is one of the setups that figure 1 interleaves: the plain
// baseline or a holeycow group.
type fig1Setup struct {
	name string
	key  string // report key of its steady ratio ("" for the baseline)
	g    *hcGroup
	p    *plainNode
}

func (s *fig1Setup) writer() *kvDB {
	if s.g != nil {
		return s.g.writer.db
	}
	return s.p.db
}

// figWriter measures figure 1: writer commits/s over holeycow with 0, 1
// and 3 copiers (and 7 at full scale), ÷ plain SQLite, at steady state and at first touch.
// It leaves the 1-copier group open for figure 2 (returned).
func figWriter(e *env, tmpl string, pages int64) (*hcGroup, *plainNode, error) {
	var setups []*fig1Setup
	base := &fig1Setup{name: "plain"}
	dir, err := e.subdir("fig1-plain")
	if err != nil {
		return nil, nil, err
	}
	if err := copyFile(tmpl, filepath.Join(dir, dbName)); err != nil {
		return nil, nil, err
	}
	if base.p, err = e.newPlain(dir); err != nil {
		return nil, nil, err
	}
	setups = append(setups, base)
	for _, c := range e.sc.Copiers {
		dir, err := e.subdir(fmt.Sprintf("fig1-hc%d", c))
		if err != nil {
			return nil, nil, err
		}
		if err := copyFile(tmpl, filepath.Join(dir, dbName)); err != nil {
			return nil, nil, err
		}
		g, err := e.newHCGroup(dir, c)
		if err != nil {
			return nil, nil, err
		}
		setups = append(setups, &fig1Setup{name: fmt.Sprintf("holeycow, %d copiers", c), key: fmt.Sprintf("writer_ratio_steady_c%d", c), g: g})
	}

	// Warm up: rewrite every row in one transaction, so that every page
	// of the database and of the journal has been written (and, on
	// holeycow, stabilized at every copier) before the timed rounds.
	e.p.Printf("fig1: warm-up (every page written once, %d pages)", pages)
	warm := "UPDATE t SET v = zeroblob(100)"
	for _, s := range setups {
		if err := s.writer().conn.Exec(warm); err != nil {
			return nil, nil, err
		}
		if s.g != nil {
			for _, c := range s.g.copiers {
				if err := c.db.conn.Exec(warm); err != nil {
					return nil, nil, err
				}
			}
		}
	}

	// Steady state: rounds of sc.TxPerRound single-row updates at random
	// rows, the same ops on every setup, in a rotating order.
	ratios := map[string][]float64{}
	var stab0 = map[string]int64{}
	for _, s := range setups[1:] {
		stab0[s.key] = s.g.writer.view.Stats().StabilizeCalls
	}
	for round := range e.sc.Rounds {
		r := e.rng(100 + uint64(round))
		ops := make([]op, e.sc.TxPerRound)
		for i := range ops {
			ops[i] = op{id: 1 + r.Int64N(int64(e.sc.Rows)), v: value(r)}
		}
		// Interleave commit by commit, rotating the order, so that drift
		// in the disk's speed hits every setup alike.
		times := map[string]time.Duration{}
		for i, o := range ops {
			for k := range setups {
				s := setups[(k+i+round)%len(setups)]
				d, err := timeIt(func() error { return s.writer().run([]op{o}) })
				if err != nil {
					return nil, nil, err
				}
				times[s.name] += d
			}
		}
		for _, s := range setups[1:] {
			if err := s.g.applyCopiers(ops); err != nil {
				return nil, nil, err
			}
		}
		line := fmt.Sprintf("fig1: steady round %d/%d: plain %.0f commits/s", round+1, e.sc.Rounds, float64(len(ops))/times["plain"].Seconds())
		for _, s := range setups[1:] {
			ratio := times["plain"].Seconds() / times[s.name].Seconds()
			ratios[s.key] = append(ratios[s.key], ratio)
			line += fmt.Sprintf(", c%d %.3f", len(s.g.copiers), ratio)
		}
		e.p.Printf("%s", line)
	}
	for _, s := range setups[1:] {
		e.rep.Set(s.key, median(ratios[s.key]))
		calls := s.g.writer.view.Stats().StabilizeCalls - stab0[s.key]
		e.rep.Detail("fig1 %s: %d stability calls during %d steady commits; per-round ratios %s", s.name, calls, e.sc.Rounds*e.sc.TxPerRound, fmtFloats(ratios[s.key]))
	}

	// First touch, 3 copiers: before each pass the copiers reset (the
	// writer forgets its stable set), then each commit updates a row on a
	// page not touched since, so each needs a stability round.
	g3 := setups[3].g
	stride := max(int64(1), int64(e.sc.Rows)/max(pages, 1))
	n := min(int64(e.sc.FirstTouchTx), int64(e.sc.Rows)/stride)
	var ftRatios []float64
	var rounds int64
	for round := range e.sc.FirstRounds {
		if err := g3.rejoin(); err != nil {
			return nil, nil, err
		}
		r := e.rng(200 + uint64(round))
		ops := make([]op, n)
		for i := range ops {
			ops[i] = op{id: 1 + int64(i)*stride + int64(round)%stride, v: value(r)}
		}
		c0 := g3.writer.view.Stats().StabilizeCalls
		var dBase, dHC time.Duration
		for i, o := range ops {
			for k := range 2 {
				db, acc := base.p.db, &dBase
				if (i+k)%2 == 1 {
					db, acc = g3.writer.db, &dHC
				}
				d, err := timeIt(func() error { return db.run([]op{o}) })
				if err != nil {
					return nil, nil, err
				}
				*acc += d
			}
		}
		rounds += g3.writer.view.Stats().StabilizeCalls - c0
		if err := g3.applyCopiers(ops); err != nil {
			return nil, nil, err
		}
		// keep the other setups' content equal to the baseline's
		for _, s := range setups[1:] {
			if s.g == g3 {
				continue
			}
			if err := s.writer().run(ops); err != nil {
				return nil, nil, err
			}
			if err := s.g.applyCopiers(ops); err != nil {
				return nil, nil, err
			}
		}
		ratio := dBase.Seconds() / dHC.Seconds()
		ftRatios = append(ftRatios, ratio)
		e.p.Printf("fig1: first-touch pass %d/%d: %d commits, ratio %.3f", round+1, e.sc.FirstRounds, n, ratio)
	}
	e.rep.Set("writer_ratio_first_touch_c3", median(ftRatios))
	if _, ok := e.rep.Value("writer_ratio_steady_c7"); !ok {
		e.rep.NotMeasured("writer_ratio_steady_c7", fmt.Sprintf("%s scale runs %v copiers", e.sc.Name, e.sc.Copiers))
	}
	e.rep.Detail("fig1 first touch: %d commits per pass on rows %d apart (one leaf page each), %d stability calls in %d passes; per-pass ratios %s",
		n, stride, rounds, e.sc.FirstRounds, fmtFloats(ftRatios))

	for _, s := range setups[1:] {
		if err := s.g.checkSame(); err != nil {
			return nil, nil, err
		}
	}
	e.rep.Detail("fig1: every copier's table equals its writer's (sha256 of all rows)")
	return setups[2].g, base.p, nil
}

func fmtFloats(xs []float64) string {
	s := "["
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.3f", x)
	}
	return s + "]"
}
