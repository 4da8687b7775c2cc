package cow

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// stablePath is what the writer knows to be stable for one path in the
// current generation: every current copier has preserved it.
type stablePath struct {
	meta   bool     // existence and size (KindMeta)
	file   bool     // everything (KindFile, or created: createdLocked): implies meta and all blocks
	blocks blockSet // block indices (KindBlocks)
	// hold is the number of the held file that every copier was told the
	// file at this path moves to (KindHold), 0 for none. It is not
	// counted in the set's size.
	hold int64
	// moves are the paths that every copier was told the file at this
	// path moves to (KindMove): it follows the file to each. They are not
	// counted either.
	moves []string
}

// blockSet is a set of block indices, 64 to a map entry: dense for the
// blocks of a database file, cheap for a sparse one.
type blockSet struct {
	chunks map[int64]uint64
	n      int64
}

func (b *blockSet) has(idx int64) bool {
	return b.chunks[idx>>6]&(1<<(idx&63)) != 0
}

// add adds idx and reports whether it was new.
func (b *blockSet) add(idx int64) bool {
	if b.chunks == nil {
		b.chunks = make(map[int64]uint64)
	}
	w := b.chunks[idx>>6]
	bit := uint64(1) << (idx & 63)
	if w&bit != 0 {
		return false
	}
	b.chunks[idx>>6] = w | bit
	b.n++
	return true
}

// stableSet is the writer's stable set. It is not safe for concurrent use;
// the writer guards it with its lock.
type stableSet struct {
	paths map[string]*stablePath
	n     int64 // metas + files + blocks recorded
}

func (s *stableSet) reset() {
	s.paths = make(map[string]*stablePath)
	s.n = 0
}

// missing returns the parts of regions that are not stable, with block
// regions split into runs of unstable blocks. A part named twice (regions
// may overlap) is returned once.
func (s *stableSet) missing(regions []Region, bs int64) []Region {
	var out []Region
	var asked stableSet // what out already holds
	asked.reset()
	has := func(p string, f func(*stablePath) bool) bool {
		if sp := s.paths[p]; sp != nil && f(sp) {
			return true
		}
		sp := asked.paths[p]
		return sp != nil && f(sp)
	}
	for _, r := range regions {
		var parts []Region
		switch r.Kind {
		case KindMeta:
			if !has(r.Path, func(sp *stablePath) bool { return sp.meta || sp.file }) {
				parts = append(parts, r)
			}
		case KindFile:
			if !has(r.Path, func(sp *stablePath) bool { return sp.file }) {
				parts = append(parts, r)
			}
		case KindHold:
			if !has(r.Path, func(sp *stablePath) bool { return sp.file || sp.hold == r.Off }) {
				parts = append(parts, r)
			}
		case KindMove:
			if !has(r.Path, func(sp *stablePath) bool { return sp.file || slices.Contains(sp.moves, r.To) }) {
				parts = append(parts, r)
			}
		case KindRelease:
			parts = append(parts, r) // one-off: the writer keeps track
		case KindBlocks:
			first, end := r.Off/bs, (r.Off+r.Len+bs-1)/bs
			run := int64(-1)
			for idx := first; idx <= end; idx++ {
				stable := idx == end || has(r.Path, func(sp *stablePath) bool {
					return sp.file || sp.blocks.has(idx)
				})
				switch {
				case !stable && run < 0:
					run = idx
				case stable && run >= 0:
					parts = append(parts, Region{Kind: KindBlocks, Path: r.Path, Off: run * bs, Len: (idx - run) * bs})
					run = -1
				}
			}
		}
		asked.record(parts, bs)
		out = append(out, parts...)
	}
	return out
}

// covers reports whether every part of regions is stable, that is whether
// missing would return nothing. It does not allocate.
func (s *stableSet) covers(regions []Region, bs int64) bool {
	for _, r := range regions {
		sp := s.paths[r.Path]
		if sp == nil {
			if r.Kind == KindBlocks && r.Off/bs == (r.Off+r.Len+bs-1)/bs {
				continue // no block: missing returns nothing for it either
			}
			return false
		}
		switch r.Kind {
		case KindMeta:
			if !sp.meta && !sp.file {
				return false
			}
		case KindFile:
			if !sp.file {
				return false
			}
		case KindHold:
			if !sp.file && sp.hold != r.Off {
				return false
			}
		case KindMove:
			if !sp.file && !slices.Contains(sp.moves, r.To) {
				return false
			}
		case KindBlocks:
			if sp.file {
				continue
			}
			for idx, end := r.Off/bs, (r.Off+r.Len+bs-1)/bs; idx < end; idx++ {
				if !sp.blocks.has(idx) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// record adds regions to the set.
func (s *stableSet) record(regions []Region, bs int64) {
	for _, r := range regions {
		if r.Kind == KindRelease {
			continue
		}
		sp := s.paths[r.Path]
		if sp == nil {
			sp = &stablePath{}
			s.paths[r.Path] = sp
		}
		switch r.Kind {
		case KindMeta:
			if !sp.meta {
				sp.meta = true
				s.n++
			}
		case KindFile:
			if !sp.file {
				sp.file = true
				s.n++
				s.n -= sp.blocks.n // the file covers them
				sp.blocks = blockSet{}
			}
		case KindHold:
			sp.hold = r.Off
		case KindMove:
			if !slices.Contains(sp.moves, r.To) {
				sp.moves = append(sp.moves, r.To)
			}
		case KindBlocks:
			if sp.file {
				continue
			}
			for idx := r.Off / bs; idx < (r.Off+r.Len+bs-1)/bs; idx++ {
				if sp.blocks.add(idx) {
					s.n++
				}
			}
		}
	}
}

// moved records that the file at from, which every copier was told moves
// to to (KindMove), has been renamed there. Every copier that read it
// from shared storage now reads it through a handle that followed it, and
// has preserved what was stable at from: those blocks are stable at to,
// with its size (each such copier pinned it when told of the move) and
// its absence for the others (KindMeta at to came with the move). Nothing
// reads from on shared storage any more: it is stable as a whole, as
// after a remove. What was recorded at to before is dropped: it described
// the file the rename replaced.
//
// A batch recorded after this call stays true although it may have been
// planned before the rename: batches run one at a time, so every copier
// preserved it after the move's round (which this rename waited for), when
// the nodes following the file already answered to both names; a batch
// every copier preserved before the move's round recorded before it.
func (s *stableSet) moved(from, to string) {
	s.drop(to)
	sp := &stablePath{meta: true}
	if old := s.paths[from]; old != nil && !old.file {
		sp.blocks = old.blocks // counted in n already
		old.blocks = blockSet{}
	}
	s.n++
	s.drop(from)
	s.paths[to] = sp
	s.record([]Region{{Kind: KindFile, Path: from}}, 1)
}

// drop forgets everything recorded at p.
func (s *stableSet) drop(p string) {
	sp := s.paths[p]
	if sp == nil {
		return
	}
	if sp.meta {
		s.n--
	}
	if sp.file {
		s.n--
	}
	s.n -= sp.blocks.n
	delete(s.paths, p)
}

// check verifies the set's bookkeeping.
func (s *stableSet) check() error {
	var errs []error
	var n int64
	for p, sp := range s.paths {
		if p == "" {
			errs = append(errs, errors.New("cow: stable set holds an empty path"))
		}
		if sp.file && sp.blocks.n > 0 {
			errs = append(errs, fmt.Errorf("cow: stable set: %s is stable as a file and keeps %d blocks", p, sp.blocks.n))
		}
		var count int64
		for chunk, w := range sp.blocks.chunks {
			if chunk < 0 {
				errs = append(errs, fmt.Errorf("cow: stable set: %s has negative blocks", p))
			}
			count += int64(bits.OnesCount64(w))
		}
		if count != sp.blocks.n {
			errs = append(errs, fmt.Errorf("cow: stable set: %s counts %d blocks, holds %d", p, sp.blocks.n, count))
		}
		if sp.meta {
			n++
		}
		if sp.file {
			n++
		}
		n += sp.blocks.n
	}
	if n != s.n {
		errs = append(errs, fmt.Errorf("cow: stable set counts %d regions, holds %d", s.n, n))
	}
	return errors.Join(errs...)
}

// blockRegion is the KindBlocks region covering bytes [from, to).
func blockRegion(p string, from, to, bs int64) Region {
	start := from / bs * bs
	end := (to + bs - 1) / bs * bs
	return Region{Kind: KindBlocks, Path: p, Off: start, Len: end - start}
}

// writeRegions is what a write of n > 0 bytes at off to a file of the given
// size needs (DESIGN.md's table).
func writeRegions(p string, off, n, size, bs int64) []Region {
	return appendWriteRegions(nil, p, off, n, size, bs)
}

// appendWriteRegions appends writeRegions(p, off, n, size, bs) to rs.
func appendWriteRegions(rs []Region, p string, off, n, size, bs int64) []Region {
	end := off + n
	if off < size {
		rs = append(rs, blockRegion(p, off, min(end, size), bs))
	}
	if end > size {
		rs = append(rs, Region{Kind: KindMeta, Path: p})
		if off >= size && size%bs != 0 { // else the blocks above cover it
			rs = append(rs, blockRegion(p, size, size+1, bs))
		}
	}
	return rs
}

// truncateRegions is what truncating a file of the given size to n needs.
func truncateRegions(p string, size, n, bs int64) []Region {
	return appendTruncateRegions(nil, p, size, n, bs)
}

// appendTruncateRegions appends truncateRegions(p, size, n, bs) to rs.
func appendTruncateRegions(rs []Region, p string, size, n, bs int64) []Region {
	switch {
	case n == size:
		return rs
	case n == 0:
		return append(rs, Region{Kind: KindFile, Path: p})
	case n > size:
		rs = append(rs, Region{Kind: KindMeta, Path: p})
		if size%bs != 0 {
			rs = append(rs, blockRegion(p, size, size+1, bs))
		}
		return rs
	default:
		return append(rs, Region{Kind: KindMeta, Path: p}, blockRegion(p, n, size, bs))
	}
}
