package stability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability/internal/wire"
)

// Config configures a Coordinator.
type Config struct {
	// ID is the writer's node ID, as in its certificate.
	ID string
	// Transport reaches the copiers.
	Transport Transport
	// Lease is how long a copier may serve reads after a renewal. It must
	// be at least every copier's ResponderConfig.Lease. Default 2s.
	Lease time.Duration
	// Margin is added to Lease before a copier is excluded; it covers the
	// difference in clock rates between writer and copier over one Lease.
	// Default Lease/10 (tolerates a 10% rate difference).
	Margin time.Duration
	// Heartbeat is how often an idle copier gets a lease renewal. Default
	// Lease/5; at most Lease/3 (a renewal takes two messages to apply).
	Heartbeat time.Duration
	// RPCTimeout bounds one message attempt. Default Lease/2.
	RPCTimeout time.Duration
	// ResetTimeout bounds how long the writer stays quiesced for one copier's
	// reset handshake. Default Lease.
	ResetTimeout time.Duration
	// Fence, if set, is called before every message; an error stops the
	// message (and fails the Stabilize call that needed it). raftcluster
	// makes it fail once this node may no longer be the writer, so that a
	// deposed writer stops renewing leases.
	Fence func(ctx context.Context) error
	// OnExclude, if set, is called (from an internal goroutine, outside any
	// lock) each time a copier is excluded. It must not block for long.
	OnExclude func(id string, epoch uint64)
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if err := wire.ValidID(c.ID); err != nil {
		return fmt.Errorf("%w: ID: %v", ErrConfig, err)
	}
	if c.Transport == nil {
		return fmt.Errorf("%w: no Transport", ErrConfig)
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Second
	}
	if c.Margin == 0 {
		c.Margin = c.Lease / 10
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = c.Lease / 5
	}
	if c.RPCTimeout == 0 {
		c.RPCTimeout = c.Lease / 2
	}
	if c.ResetTimeout == 0 {
		c.ResetTimeout = c.Lease
	}
	if c.Lease < 0 || c.Margin < 0 || c.Heartbeat <= 0 || c.Heartbeat > c.Lease/3 || c.RPCTimeout <= 0 || c.ResetTimeout <= 0 {
		return fmt.Errorf("%w: durations Lease=%v Margin=%v Heartbeat=%v RPCTimeout=%v ResetTimeout=%v",
			ErrConfig, c.Lease, c.Margin, c.Heartbeat, c.RPCTimeout, c.ResetTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Coordinator is the writer's half of the stability protocol. It implements
// cow.Stabilizer: Stabilize fans regions out to every current copier and
// returns once each has acknowledged or has been excluded. It also serves
// the writer's side of copier reset handshakes (HandleReset).
//
// Concurrency: all methods are safe for concurrent use. Each copier has one
// goroutine (a link) that sends its rounds in order, one message each
// (up to 16384 regions; Stabilize splits larger calls). Concurrent
// Stabilize calls are not merged: batching is the caller's (cow's writer
// view makes one call at a time).
type Coordinator struct {
	cfg    Config
	log    *slog.Logger
	seq    atomic.Uint64 // message numbers, unique over all links
	hist   histogram
	resetL sync.Mutex // serializes reset handshakes

	stats struct {
		rounds, roundRegions, messages, heartbeats, excluded, resets, staleGot atomic.Int64
	}

	// mu guards the membership and the writer's epoch.
	mu struct {
		sync.Mutex
		writer      cow.ResetHandshake
		epoch       uint64
		generation  uint64
		deposed     error // non-nil once a copier reported a newer epoch
		links       map[string]*link
		activations uint64 // counts links made active, to catch joins during a round
		closed      bool
	}
}

var _ cow.Stabilizer = (*Coordinator)(nil)

// NewCoordinator returns a Coordinator with no copiers. Call SetWriter and
// SetCopiers before use.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger.With("writer", cfg.ID)}
	c.seq.Store(rand.Uint64() >> 2)
	c.mu.links = make(map[string]*link)
	return c, nil
}

// SetWriter sets the writer view's reset handshake (normally the writer's
// *cow.View), used to quiesce it while a copier resets.
func (c *Coordinator) SetWriter(w cow.ResetHandshake) {
	c.mu.Lock()
	c.mu.writer = w
	c.mu.Unlock()
}

// Epoch returns the writer's current epoch.
func (c *Coordinator) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.epoch
}

// SetCopiers sets the writer's epoch and the copier membership. A call
// with an older epoch, or the same epoch and an older generation, is
// ignored and returns an error wrapping ErrStaleEpoch.
//
// A new peer starts active: the writer sends it every round, and excludes
// it if it does not acknowledge within Lease+Margin of this call (or if it
// answers that it has not joined). A peer that was excluded stays excluded
// until it completes a reset handshake. A removed peer is no longer waited
// for at once: the caller must make sure that a node it removes no longer
// serves reads (see the package documentation).
func (c *Coordinator) SetCopiers(epoch, generation uint64, peers []Peer) error {
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		if err := wire.ValidID(p.ID); err != nil {
			return fmt.Errorf("%w: peer: %v", ErrConfig, err)
		}
		if p.ID == c.cfg.ID || seen[p.ID] {
			return fmt.Errorf("%w: peer %q duplicated or the writer itself", ErrConfig, p.ID)
		}
		seen[p.ID] = true
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if epoch < c.mu.epoch || (epoch == c.mu.epoch && generation < c.mu.generation) {
		e, g := c.mu.epoch, c.mu.generation
		c.mu.Unlock()
		return fmt.Errorf("%w: membership epoch %d generation %d, have %d/%d", ErrStaleEpoch, epoch, generation, e, g)
	}
	if epoch > c.mu.epoch {
		c.mu.deposed = nil
	}
	c.mu.epoch, c.mu.generation = epoch, generation
	var stopped []*link
	now := time.Now()
	for id, l := range c.mu.links {
		if !seen[id] {
			delete(c.mu.links, id)
			stopped = append(stopped, l)
		}
	}
	for _, p := range peers {
		if l := c.mu.links[p.ID]; l != nil {
			l.setAddr(p.Addr) // pending rounds stay with the link
			continue
		}
		c.mu.links[p.ID] = c.startLinkLocked(p, now, false)
	}
	c.mu.Unlock()
	for _, l := range stopped {
		l.stop(nil)
	}
	return nil
}

// startLinkLocked creates a link; c.mu must be held.
func (c *Coordinator) startLinkLocked(p Peer, lastAck time.Time, excluded bool) *link {
	l := newLink(c, p, lastAck)
	if excluded {
		l.mu.state = stateExcluded
		close(l.done)
		return l
	}
	c.mu.activations++
	go l.run()
	return l
}

// Stabilize implements cow.Stabilizer. It returns nil once every copier
// that is active has acknowledged that it preserved every region, or has
// been excluded or removed. It fails with an error wrapping ErrStaleEpoch
// once this writer has been deposed, ErrClosed after Close, the Fence's
// error, or ctx's error.
func (c *Coordinator) Stabilize(ctx context.Context, regions []cow.Region) error {
	if len(regions) == 0 {
		return nil
	}
	for _, r := range regions {
		if err := wire.ValidRegion(r); err != nil {
			return err
		}
	}
	start := time.Now()
	done := make(map[*link]bool)
	reached := false
	for iter := 0; ; iter++ {
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if err := c.mu.deposed; err != nil {
			c.mu.Unlock()
			return err
		}
		var links []*link
		for _, l := range c.mu.links {
			if !done[l] && l.active() {
				links = append(links, l)
			}
		}
		act := c.mu.activations
		c.mu.Unlock()
		if len(links) == 0 {
			break
		}
		if iter >= 64 {
			return fmt.Errorf("stability: copiers keep joining during a round (%d passes)", iter)
		}
		reached = true
		var rounds []*round
		for chunk := range chunks(regions, maxRegions, maxRegionBytes) {
			r := &round{regions: chunk, done: make(chan struct{})}
			r.mu.remaining = len(links)
			rounds = append(rounds, r)
		}
		for _, l := range links {
			l.enqueue(rounds)
			done[l] = true
		}
		for _, r := range rounds {
			select {
			case <-r.done:
			case <-ctx.Done():
				return fmt.Errorf("stability: stabilize: %w", ctx.Err())
			}
			if err := r.result(); err != nil {
				return err
			}
		}
		// A copier that joined (reset) while this round ran has been asked
		// nothing: ask it too before letting the mutation proceed.
		c.mu.Lock()
		again := c.mu.activations != act
		c.mu.Unlock()
		if !again {
			break
		}
	}
	if reached {
		c.stats.rounds.Add(1)
		c.stats.roundRegions.Add(int64(len(regions)))
		c.hist.observe(time.Since(start))
	}
	return nil
}

// chunks splits rs into runs of at most n regions whose paths take at
// most size bytes (each region counts regionBytes), so that each run fits
// one PreserveRequest: a run holds one region at least.
func chunks(rs []cow.Region, n, size int) func(func([]cow.Region) bool) {
	return func(yield func([]cow.Region) bool) {
		for len(rs) > 0 {
			k, used := 0, 0
			for k < min(n, len(rs)) {
				b := regionBytes(rs[k])
				if k > 0 && used+b > size {
					break
				}
				used += b
				k++
			}
			if !yield(rs[:k:k]) {
				return
			}
			rs = rs[k:]
		}
	}
}

// regionBytes bounds what r takes in an encoded PreserveRequest: its
// kind, paths with their lengths, and two varints.
func regionBytes(r cow.Region) int { return 1 + len(r.Path) + len(r.To) + 2*3 + 2*10 }

// depose records that a copier has seen a newer epoch than ours.
func (c *Coordinator) depose(epoch, theirs uint64) error {
	err := fmt.Errorf("%w: writer epoch %d, copier has seen %d", ErrStaleEpoch, epoch, theirs)
	c.mu.Lock()
	if c.mu.epoch == epoch && c.mu.deposed == nil {
		c.mu.deposed = err
		c.log.Warn("stability: deposed", "epoch", epoch, "newer", theirs)
	}
	c.mu.Unlock()
	c.stats.staleGot.Add(1)
	return err
}

// Copiers returns the IDs of the active and excluded copiers.
func (c *Coordinator) Copiers() (active, excluded []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, l := range c.mu.links {
		if l.active() {
			active = append(active, id)
		} else {
			excluded = append(excluded, id)
		}
	}
	return active, excluded
}

// Stats returns the counters.
func (c *Coordinator) Stats() Stats {
	return Stats{
		Rounds:        c.stats.rounds.Load(),
		RoundRegions:  c.stats.roundRegions.Load(),
		Messages:      c.stats.messages.Load(),
		Heartbeats:    c.stats.heartbeats.Load(),
		Excluded:      c.stats.excluded.Load(),
		Resets:        c.stats.resets.Load(),
		StaleEpochGot: c.stats.staleGot.Load(),
		RoundP50:      c.hist.quantile(0.50),
		RoundP99:      c.hist.quantile(0.99),
	}
}

// Close stops all links; pending and later Stabilize calls fail with
// ErrClosed. Copiers stop getting renewals, so their leases lapse.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	links := c.mu.links
	c.mu.links = map[string]*link{}
	c.mu.Unlock()
	for _, l := range links {
		l.stop(ErrClosed)
	}
	return nil
}

// Check verifies the Coordinator's invariants.
func (c *Coordinator) Check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for id, l := range c.mu.links {
		if l.peer.ID != id {
			errs = append(errs, fmt.Errorf("stability: link %q filed under %q", l.peer.ID, id))
		}
		l.mu.Lock()
		if l.mu.state != stateActive && len(l.mu.pending) != 0 {
			errs = append(errs, fmt.Errorf("stability: link %q is %v with %d pending rounds", id, l.mu.state, len(l.mu.pending)))
		}
		if l.mu.ackedSeq > c.seq.Load() {
			errs = append(errs, fmt.Errorf("stability: link %q acked seq %d beyond %d", id, l.mu.ackedSeq, c.seq.Load()))
		}
		l.mu.Unlock()
	}
	if c.mu.closed && len(c.mu.links) != 0 {
		errs = append(errs, errors.New("stability: closed coordinator has links"))
	}
	return errors.Join(errs...)
}
