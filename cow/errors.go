package cow

import "errors"

// Sentinel errors. The views return them wrapped in an *fs.PathError (or in
// a plain error for calls that name no path); match them with errors.Is.
var (
	// ErrNotCopier reports a copier-only call (Preserve, Reset,
	// Invalidate's effect, Promote) made on a writer view.
	ErrNotCopier = errors.New("cow: view is not a copier")
	// ErrNotWriter reports a writer-only call (Forget, ResetCopier,
	// SetStabilizer, SetGuard) made on a copier view.
	ErrNotWriter = errors.New("cow: view is not a writer")
	// ErrInvalidated reports a copier that was invalidated (for example
	// because its lease lapsed and it may have missed a stability round).
	// It refuses reads and writes until it is reset.
	ErrInvalidated = errors.New("cow: copier invalidated, reset required")
	// ErrBusy reports a change that needs an idle view (SetBlockSize with
	// overlay content or a non-empty stable set), or a mutation whose
	// stable set kept being forgotten while it waited.
	ErrBusy = errors.New("cow: view is busy")
	// ErrStabilize wraps every error that came from the Stabilizer: the
	// writer's mutation did not happen.
	ErrStabilize = errors.New("cow: stabilization failed")
	// ErrReserved reports a path inside the holding area (HoldDir), which
	// the views keep for themselves: no engine may name it.
	ErrReserved = errors.New("cow: reserved name")
)
