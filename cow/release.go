package cow

import (
	"errors"
	"fmt"
	"io"
)

// ErrReleased is the cause of ErrInvalidated on a copier view after
// Release.
var ErrReleased = errors.New("cow: view released")

// Release ends a view that its owner no longer uses (its engine closed,
// the view replaced, or the node shutting down): a copier view drops its
// overlay, so the blocks leave its Store (a NewDirStore deletes their
// files), and refuses every later operation with an error wrapping
// ErrInvalidated and ErrReleased; then the Store is closed if it
// implements io.Closer (NewDirStore's removes its directory). A writer
// view only closes its Store. Release waits for the operations in flight
// on the view; it is idempotent.
func (v *View) Release() error {
	v.rmu.Lock()
	defer v.rmu.Unlock()
	var errs []error
	if v.role == RoleCopier {
		if err := v.dropOverlay(); err != nil {
			errs = append(errs, fmt.Errorf("cow: release: %w", err))
		}
		v.c.mu.Lock()
		v.c.mu.invalid = fmt.Errorf("%w: %w", ErrInvalidated, ErrReleased)
		v.c.mu.Unlock()
	}
	if c, ok := v.c.store.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cow: release: close store: %w", err))
		}
	}
	return errors.Join(errs...)
}
