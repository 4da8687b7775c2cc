package netstorage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/vfs"
)

// Engine is the application's engine on top of a member's view.
type Engine interface {
	// Close closes the engine and every file it holds on the view.
	Close() error
	// Open opens the engine on fsys and catches up to the node's applied
	// index (raftcluster.Node.ReadLog from the index stored in the
	// database), holding off concurrent ApplyFunc calls until it has.
	Open(ctx context.Context, fsys vfs.FS) error
}

// Node is what a Storage needs of its member's node: *raftcluster.Node
// implements it (tests drive a Storage with a fake).
type Node interface {
	// Guard fences the writer view and the Coordinator's messages: it
	// fails once the member may no longer mutate shared storage.
	Guard() func(context.Context) error
	// State is the replicated state as the node applied it.
	State() raftcluster.State
	// IsLeader reports whether the node is the Raft leader.
	IsLeader() bool
	// Exclude records in the log that copier id was excluded.
	Exclude(ctx context.Context, id string) error
}

var _ Node = (*raftcluster.Node)(nil)

// Config configures a Storage.
type Config struct {
	// ID is the member's ID: the same as raftcluster.Config.ID and the
	// node ID in its stability certificate.
	ID string
	// Shared is shared storage, as this node mounts it.
	Shared vfs.FS
	// Transport reaches the other members' stability endpoints
	// (stability.GRPCTransport, or a stabilitytest.Network's for members
	// that share one process).
	Transport stability.Transport
	// Engine is the application's engine.
	Engine Engine
	// View holds the options of every view this Storage creates
	// (BlockSize, Logger). Its Guard and Store are ignored: the Guard is
	// the node's (SetNode), the Store comes from NewStore.
	View cow.Options
	// NewStore, if set, returns the overlay store of each new copier view
	// (nil: cow.NewMemStore). A view this Storage stops using (replaced,
	// or at Close) is released (cow.View.Release): its overlay leaves the
	// store, which is closed if it is an io.Closer.
	NewStore func() (cow.Store, error)
	// Lease is the copier lease of the stability protocol, for the
	// writer's Coordinator and this node's Responder alike (default 2s).
	// Margin, Heartbeat, RPCTimeout and ResetTimeout tune the
	// Coordinator (zero: stability's defaults).
	Lease        time.Duration
	Margin       time.Duration
	Heartbeat    time.Duration
	RPCTimeout   time.Duration
	ResetTimeout time.Duration
	// JoinTimeout bounds the joins (reset handshakes) of one Storage call
	// (default 2*Lease); the node calls again later if they fail.
	JoinTimeout time.Duration
	// Logger receives this package's and stability's logs (nil: discard).
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.ID == "" {
		return fmt.Errorf("%w: ID is required", ErrConfig)
	}
	if c.Shared == nil || c.Transport == nil || c.Engine == nil {
		return fmt.Errorf("%w: Shared, Transport and Engine are required", ErrConfig)
	}
	if c.Lease < 0 || c.Margin < 0 || c.Heartbeat < 0 || c.RPCTimeout < 0 || c.ResetTimeout < 0 || c.JoinTimeout < 0 {
		return fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Second
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 2 * c.Lease
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.View.Logger == nil {
		c.View.Logger = c.Logger
	}
	return nil
}

// Storage is one member's raftcluster.Storage over a cow.View, with the
// stability protocol over the network: a stability.Coordinator while the
// member is the writer, a stability.Responder while it is a copier.
//
// Concurrency: the raftcluster.Storage methods are called by the node from
// one goroutine; Handler's methods run on the transport's goroutines; FS,
// View, WriterEpoch, Stats, Check and Close are safe for concurrent use.
type Storage struct {
	cfg  Config
	log  *slog.Logger
	node atomic.Pointer[nodeRef]
	// membL serializes changes of the Coordinator's copier set
	// (SetCopiers, and admissions of resetting copiers by Handler).
	membL sync.Mutex
	// excludeWG tracks the goroutines that record exclusions.
	excludeWG sync.WaitGroup
	done      chan struct{} // closed by Close
	// mux routes requests to the roles in mu.resp and mu.coord: it is set
	// wherever they are, under mu.
	mux stability.Mux

	stats struct {
		promotions, freshWriters, joins, resets, excluded, admitted atomic.Int64
	}

	// mu guards the roles and the view.
	mu struct {
		sync.Mutex
		view   *cow.View
		cv     *copierView          // the copier view as the Responder sees it
		resp   *stability.Responder // copier role
		joined bool                 // resp completed a Join for the current view
		open   bool                 // engine open
		coord  *stability.Coordinator
		// Writer term state, for coord.
		coordEpoch  uint64
		termIndex   uint64          // log index at which coordEpoch began
		pending     map[string]bool // not waited for until they reset with us
		gen         uint64          // last generation given to coord
		joining     map[string]int  // reset handshakes in flight, by copier
		writerEpoch uint64          // BecomeWriter succeeded, not fenced since
		// viewWriterEpoch is the epoch for which view became (or was
		// kept as) a writer view.
		viewWriterEpoch uint64
		closed          bool
	}
}

var _ raftcluster.Storage = (*Storage)(nil)

// New returns the Storage of one member. Serve Handler on the member's
// stability address (its raftcluster.Config.StabilityAddr), and call
// SetNode with the member's node right after raftcluster.New.
func New(cfg Config) (*Storage, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Storage{cfg: cfg, log: cfg.Logger.With("node", cfg.ID), done: make(chan struct{})}
	s.mu.joining = make(map[string]int)
	return s, nil
}

// SetNode attaches the member's node: its Guard fences the writer view
// (and the Coordinator's messages), its state names the copiers, and
// exclusions are recorded through it. Storage calls made before SetNode
// fail (the node retries them).
func (s *Storage) SetNode(n Node) {
	s.node.Store(&nodeRef{n})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.view != nil {
		s.mu.view.SetGuard(n.Guard())
	}
}

// Handler returns the stability handler to serve on this member's
// stability address: rounds go to the copier role, reset handshakes to the
// writer role.
func (s *Storage) Handler() stability.Handler { return handler{&s.mux, s} }

// FS returns the member's current view (nil before the first role).
func (s *Storage) FS() vfs.FS {
	if v := s.View(); v != nil {
		return v
	}
	return nil
}

// View returns the member's current view (nil before the first role).
func (s *Storage) View() *cow.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.view
}

// WriterEpoch returns the epoch for which this member is the writer (its
// BecomeWriter succeeded and it has not been fenced since), or 0.
func (s *Storage) WriterEpoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.writerEpoch
}

// Stats are a Storage's counters, with its current role's stability
// counters.
type Stats struct {
	Role         cow.Role // 0 before the first role
	Promotions   int64    // copier views promoted to writer
	FreshWriters int64    // writer views opened afresh on shared storage
	Joins        int64    // successful joins (fresh copier views)
	Resets       int64    // successful resets of an existing copier view
	Excluded     int64    // copiers this member excluded as the writer
	Admitted     int64    // copiers admitted to the writer's set by their reset request
	Stability    stability.Stats
	View         cow.Stats
}

// Stats returns the counters.
func (s *Storage) Stats() Stats {
	s.mu.Lock()
	v, coord, resp := s.mu.view, s.mu.coord, s.mu.resp
	s.mu.Unlock()
	st := Stats{
		Promotions:   s.stats.promotions.Load(),
		FreshWriters: s.stats.freshWriters.Load(),
		Joins:        s.stats.joins.Load(),
		Resets:       s.stats.resets.Load(),
		Excluded:     s.stats.excluded.Load(),
		Admitted:     s.stats.admitted.Load(),
	}
	if v != nil {
		st.View = v.Stats()
		st.Role = st.View.Role
	}
	switch {
	case coord != nil && st.Role == cow.RoleWriter:
		st.Stability = coord.Stats()
	case resp != nil:
		st.Stability = resp.Stats()
	}
	return st
}

// nodeRef holds the node SetNode attached (an atomic.Pointer holds no
// interface value).
type nodeRef struct{ Node }

func (s *Storage) guard() (cow.Guard, error) {
	n := s.node.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoNode, s.cfg.ID)
	}
	return n.Guard(), nil
}

func (s *Storage) viewOptions(g cow.Guard) (cow.Options, error) {
	o := s.cfg.View
	o.Guard, o.Store = g, nil
	if s.cfg.NewStore != nil {
		st, err := s.cfg.NewStore()
		if err != nil {
			return o, fmt.Errorf("netstorage: %s: overlay store: %w", s.cfg.ID, err)
		}
		o.Store = st
	}
	return o, nil
}

// closeEngine closes the engine if it is open.
func (s *Storage) closeEngine() error {
	s.mu.Lock()
	open := s.mu.open
	s.mu.open = false
	s.mu.Unlock()
	if !open {
		return nil
	}
	if err := s.cfg.Engine.Close(); err != nil {
		return fmt.Errorf("netstorage: %s: close engine: %w", s.cfg.ID, err)
	}
	return nil
}

// openEngine opens the engine on v, the current view.
func (s *Storage) openEngine(ctx context.Context, v *cow.View) error {
	if err := s.cfg.Engine.Open(ctx, v); err != nil {
		return fmt.Errorf("netstorage: %s: open engine: %w", s.cfg.ID, err)
	}
	s.mu.Lock()
	s.mu.open = true
	s.mu.Unlock()
	return nil
}

// dropCopierLocked ends the copier role: the Responder stops serving and
// no longer touches the view. s.mu must be held.
func (s *Storage) dropCopierLocked() {
	if s.mu.cv != nil {
		s.mu.cv.detach()
	}
	if s.mu.resp != nil {
		s.mu.resp.Close()
	}
	s.mu.cv, s.mu.resp, s.mu.joined = nil, nil, false
	s.mux.SetResponder(nil)
}

// dropWriterLocked ends the writer role's Coordinator (asynchronously: its
// links stop on their own). s.mu must be held.
func (s *Storage) dropWriterLocked() {
	if c := s.mu.coord; c != nil {
		go c.Close()
	}
	s.mu.coord, s.mu.coordEpoch, s.mu.pending, s.mu.gen = nil, 0, nil, 0
	s.mu.writerEpoch = 0
	s.mux.SetCoordinator(nil)
}

func writerPeer(m raftcluster.Member) stability.Peer {
	return stability.Peer{ID: m.ID, Addr: m.StabilityAddr}
}

// Close closes the engine (if this Storage opened it) and ends both
// roles. The node must be shut down first.
func (s *Storage) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	close(s.done)
	s.mu.Unlock()
	err := s.closeEngine()
	s.mu.Lock()
	s.dropCopierLocked()
	c := s.mu.coord
	s.mu.coord = nil
	s.mux.SetCoordinator(nil)
	s.mu.writerEpoch = 0
	v := s.mu.view
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
	s.excludeWG.Wait()
	s.release(v)
	return err
}

// release ends a view this Storage no longer uses (replaced, or at
// Close): a copier view's overlay leaves its store, and the store is
// closed (a cow.NewDirStore deletes its files), so that node-local scratch
// space does not keep dropped overlays. The engine is closed and the
// Responder detached by then.
func (s *Storage) release(v *cow.View) {
	if v == nil {
		return
	}
	if err := v.Release(); err != nil {
		s.log.Warn("netstorage: releasing a dropped view", "err", err)
	}
}

func (s *Storage) isClosed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	return nil
}

// Check verifies the Storage's invariants and those of its view,
// Coordinator and Responder.
func (s *Storage) Check() error {
	s.mu.Lock()
	v, coord, resp, cv := s.mu.view, s.mu.coord, s.mu.resp, s.mu.cv
	we, open, closed := s.mu.writerEpoch, s.mu.open, s.mu.closed
	s.mu.Unlock()
	var errs []error
	if v != nil {
		errs = append(errs, v.Check())
		if v.Role() == cow.RoleCopier && (cv == nil || cv.v != v || resp == nil) && !closed {
			errs = append(errs, fmt.Errorf("netstorage: %s: copier view without its responder", s.cfg.ID))
		}
	}
	if we != 0 && (v == nil || v.Role() != cow.RoleWriter || coord == nil) {
		errs = append(errs, fmt.Errorf("netstorage: %s: writer of epoch %d without a writer view and coordinator", s.cfg.ID, we))
	}
	if open && v == nil {
		errs = append(errs, fmt.Errorf("netstorage: %s: engine open without a view", s.cfg.ID))
	}
	if closed && open {
		errs = append(errs, fmt.Errorf("netstorage: %s: engine open after Close", s.cfg.ID))
	}
	if coord != nil {
		errs = append(errs, coord.Check())
	}
	if resp != nil {
		errs = append(errs, resp.Check())
	}
	return errors.Join(errs...)
}
