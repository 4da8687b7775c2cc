package netstorage

import (
	"context"

	"github.com/holeycow/holeycow/stability"
)

// handler is a member's stability.Handler: the Storage's stability.Mux
// (rounds to the copier role, resets to the writer role), extended to
// admit members that the writer's Coordinator does not know yet when they
// ask to reset.
type handler struct {
	*stability.Mux
	s *Storage
}

var _ stability.Handler = handler{}

// HandleReset admits from (Storage.admit), then routes the handshake
// through the Mux. While it runs, exclusions of from are not recorded
// (mu.joining, onExclude): the reset brings it back.
func (h handler) HandleReset(ctx context.Context, from string, st stability.ResetStream) error {
	s := h.s
	s.mu.Lock()
	s.mu.joining[from]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.mu.joining[from]--; s.mu.joining[from] <= 0 {
			delete(s.mu.joining, from)
		}
		s.mu.Unlock()
	}()
	s.admit(from)
	return h.Mux.HandleReset(ctx, from, st)
}
