package cow

import (
	"context"
	"sync"
)

// Direct is a Stabilizer for views in one process: Stabilize calls Preserve
// on every copier it holds, concurrently, and succeeds once all have
// succeeded. It is what tests and single-process deployments use; package
// stability provides the networked equivalent.
//
// Concurrency: safe for concurrent use. A copier added while a round is in
// flight may or may not take part in it; callers that add a copier must
// make the writer Forget (or run ResetCopier) afterwards, as for any new
// copier.
type Direct struct {
	// mu guards the copier list.
	mu struct {
		sync.Mutex
		copiers []Preserver
	}
}

var _ Stabilizer = (*Direct)(nil)

// NewDirect returns a Direct holding copiers.
func NewDirect(copiers ...Preserver) *Direct {
	l := &Direct{}
	for _, p := range copiers {
		l.Add(p)
	}
	return l
}

// Add adds a copier. Adding one twice has no effect.
func (l *Direct) Add(p Preserver) {
	if p == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.mu.copiers {
		if q == p {
			return
		}
	}
	l.mu.copiers = append(l.mu.copiers, p)
}

// Remove removes a copier; removing an absent one has no effect.
func (l *Direct) Remove(p Preserver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, q := range l.mu.copiers {
		if q == p {
			l.mu.copiers = append(l.mu.copiers[:i:i], l.mu.copiers[i+1:]...)
			return
		}
	}
}

// Stabilize calls Preserve(ctx, regions) on every copier concurrently and
// returns the first error, or nil once all have succeeded.
func (l *Direct) Stabilize(ctx context.Context, regions []Region) error {
	l.mu.Lock()
	copiers := append([]Preserver(nil), l.mu.copiers...)
	l.mu.Unlock()
	switch len(copiers) {
	case 0:
		return nil
	case 1:
		return copiers[0].Preserve(ctx, regions)
	}
	errs := make([]error, len(copiers))
	var wg sync.WaitGroup
	for i, p := range copiers {
		wg.Go(func() { errs[i] = p.Preserve(ctx, regions) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
