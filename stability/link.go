package stability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/holeycow/holeycow/cow"
)

// round is one Stabilize call's chunk of regions, waited for by every link
// it was given to.
//
// Concurrency: mu guards the countdown; done is closed when it reaches 0.
type round struct {
	regions []cow.Region
	done    chan struct{}
	mu      struct {
		sync.Mutex
		remaining int
		err       error
	}
}

// finish records one link's outcome: nil if the copier acknowledged or no
// longer counts (excluded, removed); an error fails the round.
func (r *round) finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.remaining == 0 {
		return
	}
	if err != nil && r.mu.err == nil {
		r.mu.err = err
	}
	r.mu.remaining--
	if r.mu.remaining == 0 {
		close(r.done)
	}
}

func (r *round) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

type linkState uint8

const (
	stateActive linkState = iota
	stateExcluded
	stateStopped
)

func (s linkState) String() string {
	return [...]string{"active", "excluded", "stopped"}[s]
}

// link is the writer's connection to one copier: one goroutine that sends
// that copier's rounds and heartbeats one message at a time, retries, and
// excludes the copier once its lease has surely lapsed.
//
// Concurrency: mu guards the fields in it; wake is a doorbell for run.
type link struct {
	c      *Coordinator
	peer   Peer // the ID never changes; the address in use may lag mu.addr
	conn   Conn // owned by run
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{} // closed when run returns

	mu struct {
		sync.Mutex
		state    linkState
		stopErr  error // what pending rounds get when stopped
		pending  []*round
		lastAck  time.Time // when the writer received the newest acknowledgement
		ackedSeq uint64    // the Seq that acknowledgement answered
		lastSend time.Time
		joins    uint64 // resets completed while active; an exclusion decided before one is void
		addr     string // the copier's current address (SetCopiers may change it)
	}
}

func newLink(c *Coordinator, p Peer, lastAck time.Time) *link {
	l := &link{c: c, peer: p, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.mu.lastAck = lastAck
	l.mu.lastSend = lastAck
	l.mu.addr = p.Addr
	return l
}

func (l *link) active() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.state == stateActive
}

// enqueue hands rounds to the link; a link that is no longer active
// finishes them at once.
func (l *link) enqueue(rs []*round) {
	l.mu.Lock()
	if l.mu.state != stateActive {
		err := l.mu.stopErr
		l.mu.Unlock()
		for _, r := range rs {
			r.finish(err)
		}
		return
	}
	l.mu.pending = append(l.mu.pending, rs...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// stop ends the link (removal from membership, replacement, Close) and
// finishes its pending rounds with err (nil: they need not wait for it).
func (l *link) stop(err error) {
	l.mu.Lock()
	if l.mu.state == stateActive {
		l.mu.state = stateStopped
	}
	l.mu.stopErr = err
	pending := l.mu.pending
	l.mu.pending = nil
	l.mu.Unlock()
	l.cancel()
	<-l.done
	for _, r := range pending {
		r.finish(err)
	}
}

// take removes the next round from the queue: one round per message. The
// rounds are not merged: batching is cow's (one Stabilize in flight per
// writer view, which collects the requests that arrive meanwhile), so a
// cow writer's link never holds two rounds to merge.
func (l *link) take() (rs []*round, regions []cow.Region, state linkState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.pending) == 0 {
		return nil, nil, l.mu.state
	}
	r := l.mu.pending[0]
	l.mu.pending = l.mu.pending[1:]
	return []*round{r}, r.regions, l.mu.state
}

func (l *link) run() {
	defer close(l.done)
	defer func() {
		if l.conn != nil {
			l.conn.Close()
		}
	}()
	hb := time.NewTimer(l.c.cfg.Heartbeat)
	defer hb.Stop()
	for {
		rs, regions, state := l.take()
		if state != stateActive || l.ctx.Err() != nil {
			l.mu.Lock()
			err := l.mu.stopErr
			rs = append(rs, l.mu.pending...)
			l.mu.pending = nil
			l.mu.Unlock()
			for _, r := range rs {
				r.finish(err)
			}
			return
		}
		if len(rs) == 0 {
			l.mu.Lock()
			wait := time.Until(l.mu.lastSend.Add(l.c.cfg.Heartbeat))
			l.mu.Unlock()
			if wait > 0 {
				hb.Reset(wait)
				select {
				case <-l.ctx.Done():
				case <-l.wake:
				case <-hb.C:
				}
				continue
			}
		}
		err := l.send(regions)
		rerr := err
		if errors.Is(err, errLinkDone) {
			rerr = nil
		}
		for _, r := range rs {
			r.finish(rerr)
		}
		if errors.Is(err, errLinkDone) || l.ctx.Err() != nil {
			l.mu.Lock()
			serr := l.mu.stopErr
			rest := l.mu.pending
			l.mu.pending = nil
			l.mu.Unlock()
			for _, r := range rest {
				r.finish(serr)
			}
			return
		}
	}
}

// dial returns a connection to the copier's current address.
func (l *link) dial() (Conn, error) {
	l.mu.Lock()
	addr := l.mu.addr
	l.mu.Unlock()
	if l.conn != nil && l.peer.Addr == addr {
		return l.conn, nil
	}
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	l.peer.Addr = addr
	conn, err := l.c.cfg.Transport.Dial(l.peer)
	if err != nil {
		return nil, err
	}
	l.conn = conn
	return conn, nil
}

// setAddr changes the address the link dials from its next attempt on.
func (l *link) setAddr(addr string) {
	l.mu.Lock()
	l.mu.addr = addr
	l.mu.Unlock()
}

// errLinkDone tells run that the link was stopped without an error for the
// rounds (the copier was removed from the membership): they need not wait.
var errLinkDone = errors.New("stability: link done")

// send delivers one message, retrying until the copier acknowledges, the
// copier is excluded (returns nil after marking it), the writer turns out
// to be deposed, the Fence fails, or the link is stopped.
func (l *link) send(regions []cow.Region) (err error) {
	c := l.c
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		excludeAt := l.mu.lastAck.Add(c.cfg.Lease + c.cfg.Margin)
		acked := l.mu.ackedSeq
		joins := l.mu.joins
		l.mu.Unlock()
		now := time.Now()
		l.mu.Lock()
		l.mu.lastSend = now // also paces retries of heartbeats refused by the Fence
		l.mu.Unlock()
		if !now.Before(excludeAt) {
			if l.exclude(joins, true, "no acknowledgement for Lease+Margin") {
				return nil
			}
			continue
		}
		if c.cfg.Fence != nil {
			if err := c.cfg.Fence(l.ctx); err != nil {
				if l.ctx.Err() != nil {
					return l.stopError()
				}
				return fmt.Errorf("stability: fence: %w", err)
			}
		}
		epoch := c.Epoch()
		seq := c.seq.Add(1)
		req := &PreserveRequest{Epoch: epoch, Writer: c.cfg.ID, Seq: seq, AckedSeq: acked, Regions: regions}
		var resp *PreserveResponse
		conn, err := l.dial()
		if err == nil {
			deadline := now.Add(c.cfg.RPCTimeout)
			if excludeAt.Before(deadline) {
				deadline = excludeAt
			}
			actx, cancel := context.WithDeadline(l.ctx, deadline)
			resp, err = conn.Preserve(actx, req)
			cancel()
			if err == nil && resp.Seq != seq {
				err = fmt.Errorf("%w: answer to seq %d, want %d", ErrMalformed, resp.Seq, seq)
			}
		}
		got := time.Now()
		if l.ctx.Err() != nil {
			return l.stopError()
		}
		if err == nil {
			switch resp.Code {
			case CodeOK:
				l.mu.Lock()
				if got.After(l.mu.lastAck) {
					l.mu.lastAck = got
				}
				l.mu.ackedSeq = seq
				l.mu.Unlock()
				c.stats.messages.Add(1)
				if len(regions) == 0 {
					c.stats.heartbeats.Add(1)
				}
				return nil
			case CodeStaleEpoch:
				return c.depose(epoch, resp.Epoch)
			case CodeNotJoined:
				// The copier's view refuses reads until it resets: it
				// no longer needs the round.
				if l.exclude(joins, false, "copier says: "+resp.Code.Err(resp.Detail).Error()) {
					return nil
				}
				continue
			default:
				err = resp.Code.Err(resp.Detail)
			}
		}
		if attempt == 0 || attempt%16 == 0 {
			c.log.Warn("stability: copier did not acknowledge", "copier", l.peer.ID, "attempt", attempt, "err", err)
		}
		wait := min(backoff, time.Until(excludeAt))
		backoff = min(2*backoff, c.cfg.Heartbeat)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-l.ctx.Done():
				t.Stop()
				return l.stopError()
			case <-t.C:
			}
		}
	}
}

func (l *link) stopError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.stopErr != nil {
		return l.mu.stopErr
	}
	return errLinkDone
}

// exclude marks the copier excluded and reports it, unless a reset
// completed since the decision (joins changed) or, for a lease deadline
// (deadline true), the deadline moved. Safe only once the copier's lease
// has lapsed or its view refuses reads. It reports whether the link is no
// longer active.
func (l *link) exclude(joins uint64, deadline bool, why string) bool {
	c := l.c
	l.mu.Lock()
	if l.mu.state != stateActive {
		l.mu.Unlock()
		return true
	}
	if l.mu.joins != joins || (deadline && time.Now().Before(l.mu.lastAck.Add(c.cfg.Lease+c.cfg.Margin))) {
		l.mu.Unlock()
		return false
	}
	l.mu.state = stateExcluded
	l.mu.Unlock()
	epoch := c.Epoch()
	c.stats.excluded.Add(1)
	c.log.Warn("stability: copier excluded", "copier", l.peer.ID, "epoch", epoch, "why", why)
	if c.cfg.OnExclude != nil {
		c.cfg.OnExclude(l.peer.ID, epoch)
	}
	return true
}
