package netstorage

import (
	"context"

	"github.com/holeycow/holeycow/stability"
)

// handler routes a member's stability requests to its current role, as
// stability.Mux does, and admits unknown members that ask to reset.
type handler struct{ s *Storage }

var _ stability.Handler = handler{}

func (h handler) HandlePreserve(ctx context.Context, from string, req *stability.PreserveRequest) *stability.PreserveResponse {
	h.s.mu.Lock()
	r := h.s.mu.resp
	h.s.mu.Unlock()
	if r == nil {
		return &stability.PreserveResponse{Seq: req.Seq, Code: stability.CodeNotServing, Detail: "not a copier"}
	}
	return r.HandlePreserve(ctx, from, req)
}

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
	c := s.admit(from)
	if c == nil {
		const detail = "not the writer"
		if err := st.Send(&stability.ResetFrame{Type: stability.FrameDone, Code: stability.CodeNotServing, Detail: detail}); err != nil {
			return err
		}
		return stability.CodeNotServing.Err(detail)
	}
	return c.HandleReset(ctx, from, st)
}
