package stability

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/cow"
)

// recvCtx receives one frame or gives up when ctx is done. The receive
// goroutine ends when the stream does (the transports end a stream when its
// handler returns or its context is cancelled).
func recvCtx(ctx context.Context, s ResetStream) (*ResetFrame, error) {
	type res struct {
		f   *ResetFrame
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := s.Recv()
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// HandleReset serves the writer's side of a copier's reset handshake on
// stream s, from the authenticated node from:
//
//  1. copier → FrameRequest (its ID and the newest epoch it has seen);
//  2. the writer quiesces its view (cow.View.ResetCopier: no mutation in
//     flight, shared storage synced, stable set forgotten) and sends
//     FrameQuiesced;
//  3. the copier drops its overlay and answers FrameDropped; the writer
//     notes the time it received it as the copier's newest acknowledgement
//     (renewing its lease) and marks the copier active again;
//  4. the writer resumes mutations and sends FrameDone.
//
// The writer stays quiesced at most ResetTimeout: if FrameDropped does not
// arrive by then, the reset fails (the copier's view stays refused).
func (c *Coordinator) HandleReset(ctx context.Context, from string, s ResetStream) error {
	f, err := recvCtx(ctx, s)
	if err != nil {
		return fmt.Errorf("stability: reset from %s: %w", from, err)
	}
	c.mu.Lock()
	epoch, w, closed, link := c.mu.epoch, c.mu.writer, c.mu.closed, c.mu.links[from]
	c.mu.Unlock()
	switch {
	case f.Type != FrameRequest:
		return refuseReset(s, epoch, CodeFailed, fmt.Sprintf("first frame is type %d", f.Type))
	case f.Node != from:
		return refuseReset(s, epoch, CodeIdentity, fmt.Sprintf("%q claims to be %q", from, f.Node))
	case closed || w == nil:
		return refuseReset(s, epoch, CodeNotServing, "not the writer")
	case f.Epoch > epoch:
		err := c.depose(epoch, f.Epoch)
		return refuseReset(s, epoch, CodeStaleEpoch, err.Error())
	case link == nil:
		return refuseReset(s, epoch, CodeNotMember, from+" is not a copier of this writer")
	}
	c.resetL.Lock()
	defer c.resetL.Unlock()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ResetTimeout)
	defer cancel()
	err = w.ResetCopier(rctx, func() error {
		if err := s.Send(&ResetFrame{Type: FrameQuiesced, Epoch: epoch}); err != nil {
			return err
		}
		f, err := recvCtx(rctx, s)
		if err != nil {
			return fmt.Errorf("%w: waiting for the copier's drop: %v", ErrResetFailed, err)
		}
		if f.Type != FrameDropped {
			return fmt.Errorf("%w: frame type %d, want dropped", ErrResetFailed, f.Type)
		}
		if f.Code != CodeOK {
			return fmt.Errorf("%w: copier: %v", ErrResetFailed, f.Code.Err(f.Detail))
		}
		// The copier received FrameQuiesced before we received this:
		// its lease (started at that receipt) lapses before ours.
		return c.activate(from, time.Now())
	})
	if err != nil {
		c.log.Warn("stability: reset failed", "copier", from, "err", err)
		return refuseReset(s, epoch, CodeFailed, truncDetail(err))
	}
	c.stats.resets.Add(1)
	return s.Send(&ResetFrame{Type: FrameDone, Epoch: epoch, Code: CodeOK})
}

// activate makes the copier id active again (after a reset), with its
// newest acknowledgement received at ack. Called while the writer is
// quiesced, so that no mutation runs before the copier is waited for.
func (c *Coordinator) activate(id string, ack time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	l := c.mu.links[id]
	if l == nil {
		return fmt.Errorf("%w: %s left the membership during its reset", ErrNotMember, id)
	}
	l.mu.Lock()
	if l.mu.state == stateActive {
		if ack.After(l.mu.lastAck) { // never move it back: renewals may rest on a later ack
			l.mu.lastAck = ack
		}
		l.mu.joins++
		l.mu.Unlock()
		c.mu.activations++
		return nil
	}
	addr := l.mu.addr
	l.mu.Unlock()
	c.mu.links[id] = c.startLinkLocked(Peer{ID: id, Addr: addr}, ack, false)
	return nil
}

// resetClient is the copier's side of the handshake: it implements
// cow.ResetHandshake over a Conn to the writer.
type resetClient struct {
	r          *Responder
	conn       Conn
	quiescedAt time.Time // when FrameQuiesced arrived
	epoch      uint64    // the writer's epoch in FrameQuiesced
	dropped    bool      // drop ran (the overlay may be gone)
}

var _ cow.ResetHandshake = (*resetClient)(nil)

// ResetCopier asks the writer to quiesce, runs drop while it is, and
// returns once the writer has resumed. Any failure after drop ran leaves
// the copier's view refused (the Responder invalidates it).
func (rc *resetClient) ResetCopier(ctx context.Context, drop func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := rc.conn.Reset(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrResetFailed, err)
	}
	if err := s.Send(&ResetFrame{Type: FrameRequest, Node: rc.r.cfg.ID, Epoch: rc.r.Epoch()}); err != nil {
		return fmt.Errorf("%w: %v", ErrResetFailed, err)
	}
	f, err := recvCtx(ctx, s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrResetFailed, err)
	}
	if f.Type == FrameDone {
		return fmt.Errorf("%w: writer refused: %w", ErrResetFailed, f.Code.Err(f.Detail))
	}
	if f.Type != FrameQuiesced {
		return fmt.Errorf("%w: frame type %d, want quiesced", ErrResetFailed, f.Type)
	}
	rc.quiescedAt = time.Now()
	rc.epoch = f.Epoch
	if err := rc.r.observe(f.Epoch); err != nil {
		s.Send(&ResetFrame{Type: FrameDropped, Code: CodeStaleEpoch, Detail: truncDetail(err)})
		return err
	}
	rc.dropped = true
	derr := drop()
	ans := &ResetFrame{Type: FrameDropped}
	if derr != nil {
		ans.Code, ans.Detail = CodeFailed, truncDetail(derr)
	} else {
		// From the writer's receipt of FrameDropped on, it waits for us
		// again: rounds must be served even before Join returns.
		rc.r.markDropped()
	}
	if err := s.Send(ans); err != nil {
		return errors.Join(derr, fmt.Errorf("%w: %v", ErrResetFailed, err))
	}
	f, err = recvCtx(ctx, s)
	if err != nil {
		return errors.Join(derr, fmt.Errorf("%w: %v", ErrResetFailed, err))
	}
	if derr != nil {
		return derr
	}
	if f.Type != FrameDone || f.Code != CodeOK {
		return fmt.Errorf("%w: writer: %w", ErrResetFailed, f.Code.Err(f.Detail))
	}
	return nil
}
