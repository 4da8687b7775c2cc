package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// A failing apply: what it is, what the node does about it, and how it
// says so (Stats, Backend.Ready and Status, the server's metrics).

// FailureKind classifies why this node's apply fails.
type FailureKind string

const (
	// FailureNone: the last apply succeeded.
	FailureNone FailureKind = ""
	// FailureStorageFull: shared storage is out of space (SQLITE_FULL,
	// ENOSPC). Every writer would fail the same way, so the writer keeps
	// its role and says so instead of handing over.
	FailureStorageFull FailureKind = "storage-full"
	// FailureFenced: this node may no longer mutate shared storage (its
	// writer lease lapsed, or a newer writer took over). It is a refusal,
	// not an I/O error; Raft settles who writes.
	FailureFenced FailureKind = "fenced"
	// FailureInvalidated: this copier's view was invalidated (its
	// stability lease lapsed); it resets.
	FailureInvalidated FailureKind = "invalidated"
	// FailureIO: any other failure of storage (I/O, corruption, a lock
	// held too long). After HandOverAfter consecutive failures the writer
	// hands leadership to another member, whose own path to shared storage
	// may work.
	FailureIO FailureKind = "io"
)

// classifyFailure tells why an apply (or the catch-up of a reopening)
// failed.
func classifyFailure(err error) FailureKind {
	switch {
	case err == nil:
		return FailureNone
	case errors.Is(err, raftcluster.ErrFenced):
		return FailureFenced
	case errors.Is(err, cow.ErrStabilize) && (errors.Is(err, stability.ErrClosed) || errors.Is(err, stability.ErrStaleEpoch)):
		// A mutation in flight when the writer was fenced: Fence closes
		// its Coordinator (or a newer writer's epoch answered), and the
		// stability round fails with that. Deposed, not broken.
		return FailureFenced
	case errors.Is(err, cow.ErrInvalidated):
		return FailureInvalidated
	case sqlnode.IsStorageFull(err):
		return FailureStorageFull
	}
	return FailureIO
}

// describe says what a failure of kind means, for logs and /readyz.
func (k FailureKind) describe() string {
	switch k {
	case FailureStorageFull:
		return "shared storage is full; a copier cannot do better on the same storage, so this writer keeps its role: free space on shared storage"
	case FailureFenced:
		return "refused by writer fencing (this node is no longer the writer, or its lease lapsed)"
	case FailureInvalidated:
		return "this copier's view was invalidated (stability lease lapsed); it resets"
	case FailureIO:
		return "storage failure"
	}
	return "ok"
}

// HandOverAfter is how many consecutive failed applies (or reopenings)
// make a writer that fails with FailureIO hand leadership over: with a
// reopening every 500 ms, some 5 s of failing, so that a passing hiccup
// of the storage costs no failover.
const HandOverAfter = 10

// handOverEvery bounds how often a node hands over leadership for failing
// applies, so that a failure every member shares (which the classification
// did not recognize) moves leadership once per member, not in a loop.
const handOverEvery = 30 * time.Second

// applyHealth tracks the failures of a node's apply.
//
// Concurrency: safe for concurrent use.
type applyHealth struct {
	mu           sync.Mutex
	consecutive  int64
	since        time.Time // first failure of the current streak
	last         error
	kind         FailureKind
	onWriter     bool // the failing database is on a writer view
	lastLog      time.Time
	lastHandOver time.Time
	handOvers    int64
}

// ApplyHealth describes a node's apply, for Stats.
type ApplyHealth struct {
	// Failing is true from a failed apply until an apply or a reopening
	// succeeds.
	Failing bool
	// Kind says why; Error is the last error; Since when the failures
	// began; Consecutive how many attempts failed since.
	Kind        FailureKind
	Error       string
	Since       time.Time
	Consecutive int64
	// HandOvers counts the leadership hand-overs this node made because
	// its apply kept failing.
	HandOvers int64
}

func (h *applyHealth) snapshot() ApplyHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := ApplyHealth{Failing: h.consecutive > 0, Kind: h.kind, Since: h.since, Consecutive: h.consecutive, HandOvers: h.handOvers}
	if h.last != nil {
		s.Error = h.last.Error()
	}
	return s
}

// failed records a failure and logs it: the first of a streak, a change
// of kind, and then one line every 10 s at most (a failing apply is
// retried every recoverEvery).
func (h *applyHealth) failed(log *slog.Logger, id, what string, err error, onWriter bool) {
	kind := classifyFailure(err)
	h.mu.Lock()
	h.onWriter = onWriter
	first := h.consecutive == 0
	changed := kind != h.kind
	h.consecutive++
	if first {
		h.since = time.Now()
	}
	h.last, h.kind = err, kind
	n, since := h.consecutive, h.since
	logNow := first || changed || time.Since(h.lastLog) >= 10*time.Second
	if logNow {
		h.lastLog = time.Now()
	}
	h.mu.Unlock()
	if !logNow {
		return
	}
	level := slog.LevelWarn
	msg := "cluster: " + what + " failed: " + kind.describe() + "; the entries stay unapplied here, retrying"
	if kind == FailureFenced {
		level = slog.LevelInfo
		msg = "cluster: " + what + " refused: " + kind.describe() + "; the entries stay unapplied here until this node's role settles"
	}
	log.Log(context.Background(), level, msg, "node", id, "kind", string(kind), "attempts", n,
		"failing_for", time.Since(since).Round(time.Millisecond), "err", err)
}

// succeeded ends a failure streak.
func (h *applyHealth) succeeded(log *slog.Logger, id string) {
	h.mu.Lock()
	n, since, kind := h.consecutive, h.since, h.kind
	h.consecutive, h.last, h.kind = 0, nil, FailureNone
	h.mu.Unlock()
	if n > 0 {
		log.Info("cluster: apply works again", "node", id, "after", string(kind), "attempts", n,
			"failed_for", time.Since(since).Round(time.Millisecond))
	}
}

// viewClosed forgets a failure streak: the database it concerned is closed
// because the node's view changes (a reset, a promotion, a demotion), and
// the next opening starts afresh.
func (h *applyHealth) viewClosed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive, h.last, h.kind, h.onWriter = 0, nil, FailureNone, false
}

// refusal returns, while the writer's own apply fails for its storage
// (full, or failing), the error with which the leader refuses new writes
// before the log; nil otherwise. (A fenced or invalidated view is a matter
// of roles, which Raft settles: new entries wait for the next writer.)
func (h *applyHealth) refusal() error {
	h.mu.Lock()
	refuse := h.consecutive > 0 && h.onWriter && (h.kind == FailureStorageFull || h.kind == FailureIO)
	h.mu.Unlock()
	if !refuse {
		return nil
	}
	return h.notReady()
}

// shouldHandOver reports whether a writer should hand leadership over now,
// and if so records the attempt.
func (h *applyHealth) shouldHandOver() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kind != FailureIO || h.consecutive < HandOverAfter ||
		(!h.lastHandOver.IsZero() && time.Since(h.lastHandOver) < handOverEvery) {
		return false
	}
	h.lastHandOver = time.Now()
	h.handOvers++
	return true
}

// notReady explains, for Backend.Ready, why the database is not
// published; nil if its apply is not failing.
func (h *applyHealth) notReady() error {
	s := h.snapshot()
	if !s.Failing {
		return nil
	}
	return fmt.Errorf("%w: applying log entries fails here since %s (%d attempts): %s: %s",
		ErrNotReady, s.Since.UTC().Format(time.RFC3339), s.Consecutive, s.Kind.describe(), s.Error)
}

// lastError returns the last failure's error (nil if not failing).
func (h *applyHealth) lastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}
