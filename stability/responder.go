package stability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability/internal/wire"
)

// CopierView is what a Responder needs of the copier's view; *cow.View
// implements it.
type CopierView interface {
	cow.Preserver
	// Invalidate makes reads fail, with cause, until the next Reset.
	Invalidate(cause error)
	// Reset drops the overlay through the handshake h.
	Reset(ctx context.Context, h cow.ResetHandshake) error
}

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// ID is the copier's node ID, as in its certificate.
	ID string
	// View is the copier's view.
	View CopierView
	// Transport reaches the writer for reset handshakes.
	Transport Transport
	// Lease is how long the copier serves reads after a renewal. It must
	// not exceed the writer's Config.Lease. Default 2s.
	Lease time.Duration
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
}

// maxRecvTimes bounds the receipt times a Responder remembers. Forgetting
// one only means a renewal that does not apply, which is safe.
const maxRecvTimes = 4096

// Responder is the copier's half of the stability protocol. It serves
// rounds by calling the view's Preserve, keeps the copier's lease, and
// invalidates the view when the lease lapses. The view starts invalidated
// (ErrNotJoined) until Join succeeds.
//
// The lease: each PreserveRequest records the time the copier received it
// under its Seq. A later request carrying AckedSeq = s proves that the
// writer received the acknowledgement of message s, so the lease is
// extended to (receipt of s) + Lease. A message whose acknowledgement was
// lost, or that arrives late, never extends the lease.
//
// Concurrency: all methods are safe for concurrent use; Join calls are
// serialized.
type Responder struct {
	cfg   ResponderConfig
	view  CopierView
	log   *slog.Logger
	joinL sync.Mutex // serializes Join

	// conn caches the connection to the writer that the last Join used,
	// so that the next one (a refreshing copier joins often) makes no new
	// TLS session. Dropped when a Join fails or the writer changes.
	conn struct {
		sync.Mutex
		peer   Peer
		c      Conn
		closed bool
	}

	stats struct {
		preserved, lapses, stale, resets atomic.Int64
	}

	// mu guards the lease and epoch state.
	mu struct {
		sync.Mutex
		joined     bool      // lease held: the view serves reads
		resetting  bool      // a Join is running; a lapse only clears joined
		dropped    bool      // the running Join has dropped the overlay: serve rounds (the writer may count on us)
		leaseUntil time.Time // meaningful while joined
		epoch      uint64    // newest writer epoch seen
		recv       map[uint64]time.Time
		timer      *time.Timer
		closed     bool
	}
}

// NewResponder returns a Responder and invalidates the view with
// ErrNotJoined until Join succeeds.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if err := wire.ValidID(cfg.ID); err != nil {
		return nil, fmt.Errorf("%w: ID: %v", ErrConfig, err)
	}
	if cfg.View == nil || cfg.Transport == nil {
		return nil, fmt.Errorf("%w: View and Transport are required", ErrConfig)
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Second
	}
	if cfg.Lease < 0 {
		return nil, fmt.Errorf("%w: Lease %v", ErrConfig, cfg.Lease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Responder{cfg: cfg, view: cfg.View, log: cfg.Logger.With("copier", cfg.ID)}
	r.mu.recv = make(map[uint64]time.Time)
	r.view.Invalidate(ErrNotJoined)
	return r, nil
}

// Epoch returns the newest writer epoch seen.
func (r *Responder) Epoch() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.epoch
}

// ObserveEpoch tells the copier that epoch exists (e.g. from the Raft log):
// requests from older epochs are refused from now on.
func (r *Responder) ObserveEpoch(epoch uint64) { _ = r.observe(epoch) }

// observe raises the newest epoch, or reports that epoch is stale.
func (r *Responder) observe(epoch uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.observeLocked(epoch)
}

func (r *Responder) observeLocked(epoch uint64) error {
	if epoch < r.mu.epoch {
		r.stats.stale.Add(1)
		return fmt.Errorf("%w: epoch %d, newest seen %d", ErrStaleEpoch, epoch, r.mu.epoch)
	}
	if epoch > r.mu.epoch {
		r.mu.epoch = epoch
		clear(r.mu.recv) // Seqs are per writer
	}
	return nil
}

// Joined reports whether the copier holds a lease (its view serves reads).
func (r *Responder) Joined() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkLeaseLocked(time.Now())
	return r.mu.joined
}

// HandlePreserve serves a round or heartbeat from the authenticated node
// from. It refuses a stale epoch (CodeStaleEpoch), and answers CodeNotJoined
// while the copier has not joined or its lease has lapsed.
func (r *Responder) HandlePreserve(ctx context.Context, from string, req *PreserveRequest) *PreserveResponse {
	now := time.Now()
	r.mu.Lock()
	resp := &PreserveResponse{Seq: req.Seq}
	switch {
	case req.Writer != from:
		resp.Code, resp.Detail = CodeIdentity, fmt.Sprintf("%q claims to be %q", from, req.Writer)
	case r.mu.closed:
		resp.Code, resp.Detail = CodeNotServing, "responder closed"
	}
	if resp.Code != CodeOK {
		resp.Epoch = r.mu.epoch
		r.mu.Unlock()
		return resp
	}
	if err := r.observeLocked(req.Epoch); err != nil {
		resp.Epoch = r.mu.epoch
		r.mu.Unlock()
		resp.Code, resp.Detail = CodeStaleEpoch, truncDetail(err)
		return resp
	}
	resp.Epoch = r.mu.epoch
	r.checkLeaseLocked(now)
	switch {
	case r.mu.resetting && r.mu.dropped && !r.mu.joined:
		// The writer has counted us back in (it did so on receiving our
		// FrameDropped, before it sent this): preserve, but renew nothing;
		// Join sets the lease.
		r.mu.Unlock()
		return r.preserve(ctx, req, resp)
	case !r.mu.joined:
		r.mu.Unlock()
		resp.Code, resp.Detail = CodeNotJoined, "copier must reset"
		return resp
	}
	if len(r.mu.recv) >= maxRecvTimes {
		clear(r.mu.recv)
	}
	r.mu.recv[req.Seq] = now
	if t, ok := r.mu.recv[req.AckedSeq]; ok && req.AckedSeq != 0 {
		if until := t.Add(r.cfg.Lease); until.After(r.mu.leaseUntil) {
			r.mu.leaseUntil = until
			r.armLocked(now)
		}
		for s := range r.mu.recv {
			if s <= req.AckedSeq {
				delete(r.mu.recv, s)
			}
		}
	}
	r.mu.Unlock()
	return r.preserve(ctx, req, resp)
}

func (r *Responder) preserve(ctx context.Context, req *PreserveRequest, resp *PreserveResponse) *PreserveResponse {
	if len(req.Regions) > 0 {
		if err := r.view.Preserve(ctx, req.Regions); err != nil {
			r.log.Warn("stability: preserve failed", "err", err)
			resp.Code, resp.Detail = CodeFailed, truncDetail(err)
			return resp
		}
		r.stats.preserved.Add(int64(len(req.Regions)))
	}
	return resp
}

// markDropped records that the running Join dropped the overlay.
func (r *Responder) markDropped() {
	r.mu.Lock()
	r.mu.dropped = true
	r.mu.Unlock()
}

// checkLeaseLocked lapses the lease if it has run out.
func (r *Responder) checkLeaseLocked(now time.Time) {
	if !r.mu.joined || now.Before(r.mu.leaseUntil) {
		return
	}
	r.mu.joined = false
	clear(r.mu.recv)
	r.stats.lapses.Add(1)
	r.log.Warn("stability: lease lapsed; reads refused until reset")
	if !r.mu.resetting {
		r.view.Invalidate(ErrLeaseExpired)
	}
}

// armLocked (re)arms the lapse timer for leaseUntil.
func (r *Responder) armLocked(now time.Time) {
	d := r.mu.leaseUntil.Sub(now)
	if r.mu.timer == nil {
		r.mu.timer = time.AfterFunc(d, r.onTimer)
		return
	}
	r.mu.timer.Reset(d)
}

func (r *Responder) onTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return
	}
	now := time.Now()
	r.checkLeaseLocked(now)
	if r.mu.joined {
		r.armLocked(now)
	}
}

// Join runs a reset handshake with the writer: the writer quiesces, the
// copier drops its overlay (through the view's Reset), the writer resumes.
// On success the view serves reads again with a fresh lease, starting when
// the writer's "quiesced" message arrived. On failure after the overlay
// was dropped, or while not joined, the view stays refused (ErrResetFailed).
// A fresh copier calls Join before its first read; a copier calls it again
// to collect garbage or after its lease lapsed.
func (r *Responder) Join(ctx context.Context, writer Peer) error {
	r.joinL.Lock()
	defer r.joinL.Unlock()
	r.mu.Lock()
	if r.mu.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.mu.resetting = true
	r.mu.Unlock()
	conn, err := r.writerConn(writer)
	rc := &resetClient{r: r, conn: conn}
	if err == nil {
		if err = r.view.Reset(ctx, rc); err != nil {
			r.dropConn(conn) // dial afresh next time
		}
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.resetting, r.mu.dropped = false, false
	if err == nil && r.mu.closed {
		err = ErrClosed
	}
	if err != nil {
		err = fmt.Errorf("stability: join %s: %w", writer.ID, err)
		r.checkLeaseLocked(now)
		if rc.dropped || !r.mu.joined {
			r.mu.joined = false
			cause := err
			if !errors.Is(err, ErrResetFailed) {
				cause = fmt.Errorf("%w: %w", ErrResetFailed, err)
			}
			r.view.Invalidate(cause)
		}
		return err
	}
	r.stats.resets.Add(1)
	r.mu.joined = true
	clear(r.mu.recv)
	r.mu.leaseUntil = rc.quiescedAt.Add(r.cfg.Lease)
	r.checkLeaseLocked(now)
	if r.mu.joined {
		r.armLocked(now)
	}
	return nil
}

// writerConn returns the cached connection to writer, or dials one and
// caches it.
func (r *Responder) writerConn(writer Peer) (Conn, error) {
	r.conn.Lock()
	defer r.conn.Unlock()
	if r.conn.closed {
		return nil, ErrClosed
	}
	if r.conn.c != nil && r.conn.peer == writer {
		return r.conn.c, nil
	}
	if r.conn.c != nil {
		r.conn.c.Close()
		r.conn.c = nil
	}
	c, err := r.cfg.Transport.Dial(writer)
	if err != nil {
		return nil, err
	}
	r.conn.peer, r.conn.c = writer, c
	return c, nil
}

// dropConn closes c and forgets it if it is the cached connection.
func (r *Responder) dropConn(c Conn) {
	r.conn.Lock()
	defer r.conn.Unlock()
	if r.conn.c == c {
		r.conn.c = nil
	}
	c.Close()
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	return Stats{
		Preserved:          r.stats.preserved.Load(),
		LeaseLapses:        r.stats.lapses.Load(),
		StaleEpochRefusals: r.stats.stale.Load(),
		Resets:             r.stats.resets.Load(),
	}
}

// Close stops serving and invalidates the view (ErrClosed): without
// renewals the copier may not serve reads.
func (r *Responder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return nil
	}
	r.mu.closed = true
	r.mu.joined = false
	if r.mu.timer != nil {
		r.mu.timer.Stop()
	}
	r.view.Invalidate(ErrClosed)
	r.conn.Lock()
	r.conn.closed = true
	if r.conn.c != nil {
		r.conn.c.Close()
		r.conn.c = nil
	}
	r.conn.Unlock()
	return nil
}

// Check verifies the Responder's invariants.
func (r *Responder) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.mu.closed && r.mu.joined {
		errs = append(errs, errors.New("stability: closed responder holds a lease"))
	}
	if len(r.mu.recv) > maxRecvTimes {
		errs = append(errs, fmt.Errorf("stability: %d receipt times remembered", len(r.mu.recv)))
	}
	if r.mu.joined && r.mu.leaseUntil.IsZero() {
		errs = append(errs, errors.New("stability: joined without a lease"))
	}
	return errors.Join(errs...)
}
