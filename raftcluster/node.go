package raftcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Node is one member of a cluster: a Raft server whose state machine holds
// the cluster state (members, writer, epoch, exclusions, reset slot) and
// hands application commands to Config.Apply.
//
// Concurrency: all methods are safe for concurrent use. The node runs
// four goroutines of its own: the leader loop (writer choice, promotion,
// demotion, exclusion, reset grants), the lease loop (writer lease), the
// storage loop (calls Storage) and the observation pump.
type Node struct {
	cfg   Config
	id    string
	addr  string
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	hub   *hub
	trans Transport
	// rtrans is the raft.Transport handed to Raft (trans's, wrapped).
	rtrans *contactTransport

	stores  *Stores
	closers []io.Closer // closed last to first
	obsCh   chan raft.Observation
	obs     *raft.Observer

	leaderWake  chan struct{} // cap 1
	leaseWake   chan struct{} // cap 1
	storageWake chan struct{} // cap 1
	done        chan struct{}
	ctx         context.Context // canceled by Shutdown
	cancel      context.CancelFunc
	// memberOps (capacity 1) serializes membership changes on the
	// leader (Join, remove, reconcileConfig), which each span two Raft
	// operations: a channel, so that a waiter gives up with its context.
	memberOps chan struct{}
	wg        sync.WaitGroup
	shutOnce  sync.Once
	shutErr   error

	// writerEpoch is the epoch for which Storage.BecomeWriter succeeded
	// and Fence has not been called since (0 = not the writer).
	writerEpoch atomic.Uint64
	// barrierTerm is the Raft term in which this node, as leader, last
	// completed a barrier (its FSM then holds every committed entry).
	barrierTerm atomic.Uint64
	// lease counts writer-lease activity (LeaseStats).
	lease struct {
		renewals, failures, guardRenewals, guardRefusals atomic.Int64
	}

	// mu guards the fields in it.
	mu struct {
		sync.Mutex
		leaseUntil   time.Time     // writer lease (monotonic)
		leadingTerm  uint64        // term in which this node, as leader, began leading at leadingSince
		leadingSince time.Time     //
		writerTerm   uint64        // term in which this leader committed its SetWriter
		handOverTerm uint64        // term in which this leader considered a hand-over
		inflight     int           // Raft futures awaited (see await)
		idle         chan struct{} // closed when inflight drops to 0 (Shutdown)
	}
	// contacts: the last answer from each member to this node's
	// AppendEntries (reachability, see Contact).
	contacts contacts
	// refusals rate-limits the warnings about refused requests.
	refusals repeats
	// reloadMu serializes raft.ReloadConfig calls (recheckHeartbeat).
	reloadMu sync.Mutex
}

// New starts a node. It does not join a cluster: call Bootstrap on the
// first node, and Join (on the leader) or RequestJoin (on the new node) for
// the others. A node restarted from existing stores rejoins its cluster by
// itself.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, id: cfg.ID, addr: cfg.Transport.Addr(), log: cfg.Logger.With("node", cfg.ID),
		hub: newHub(), trans: cfg.Transport, leaderWake: make(chan struct{}, 1),
		leaseWake: make(chan struct{}, 1), storageWake: make(chan struct{}, 1), done: make(chan struct{}),
		memberOps: make(chan struct{}, 1)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.fsm = newFSM(cfg.Apply, cfg.ApplyBatch, cfg.CompactableIndex, n.hub)
	n.fsm.onRestore = cfg.OnRestore
	n.fsm.onChange = func() { n.wake(n.leaderWake); n.wake(n.storageWake) }

	stores := cfg.Stores
	if stores == nil {
		var err error
		stores, n.closers, err = openDiskStores(cfg.DataDir, cfg.LogStore, n.log)
		if err != nil {
			return nil, err
		}
	}

	n.stores = stores
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.Timeouts.Heartbeat
	rc.ElectionTimeout = cfg.Timeouts.Election
	rc.LeaderLeaseTimeout = cfg.Timeouts.LeaderLease
	rc.CommitTimeout = cfg.Timeouts.Commit
	rc.Logger = newHCLog(cfg.Logger.With("node", cfg.ID), "raft")
	rc.NoLegacyTelemetry = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	if err := raft.ValidateConfig(rc); err != nil {
		n.closeStores()
		n.cancel()
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	n.rtrans = &contactTransport{Transport: cfg.Transport.raftTransport(), c: &n.contacts}
	r, err := raft.NewRaft(rc, n.fsm, stores.Log, stores.Stable, stores.Snap, n.rtrans)
	if err != nil {
		n.closeStores()
		n.cancel()
		return nil, fmt.Errorf("raftcluster: start raft: %w", err)
	}
	n.raft = r
	n.obsCh = make(chan raft.Observation, 64)
	n.obs = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation,
			raft.PeerObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(n.obs)
	cfg.Transport.serve(n.handleForward, n.memberAt)

	n.wg.Add(5)
	go n.leaderGoneLoop()
	go n.observeLoop()
	go n.leaderLoop()
	go n.leaseLoop()
	go n.storageLoop()
	return n, nil
}

func (n *Node) closeStores() {
	closeAll(n.closers)
	n.closers = nil
}

func (n *Node) wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ID returns this member's ID, and RaftAddr its Raft address.
func (n *Node) ID() string       { return n.id }
func (n *Node) RaftAddr() string { return n.addr }

// Bootstrap makes this node a one-member cluster. It does nothing if the
// node already has Raft state (it was bootstrapped or joined before).
func (n *Node) Bootstrap(ctx context.Context) error {
	f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
		{ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.addr), Suffrage: raft.Voter}}})
	err := n.await(ctx, f)
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	return opErr("bootstrap", err)
}

// ctxTimeout returns the time left before ctx's deadline, or DefaultOp.
func (n *Node) ctxTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return n.cfg.Timeouts.DefaultOp
}

// await waits for a Raft future, or for ctx, or for shutdown. When ctx ends
// first it returns an error wrapping ErrOutcomeUnknown and ctx.Err().
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	n.mu.Lock()
	n.mu.inflight++
	n.mu.Unlock()
	go func() {
		err := f.Error()
		n.mu.Lock()
		n.mu.inflight--
		if n.mu.inflight == 0 && n.mu.idle != nil {
			close(n.mu.idle)
			n.mu.idle = nil
		}
		n.mu.Unlock()
		done <- err
	}()
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeouts.DefaultOp)
		defer cancel()
	}
	select {
	case err := <-done:
		return n.mapErr(err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

func (n *Node) notLeader(op string) error {
	addr, id := n.raft.LeaderWithID()
	if string(id) == n.id {
		// Raft still thinks we lead but the operation found otherwise.
		addr, id = "", ""
	}
	return &NotLeaderError{Op: op, LeaderID: string(id), LeaderAddr: string(addr)}
}

// mapErr translates hashicorp/raft errors.
func (n *Node) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// A transfer in progress refuses the entry before appending it:
		// not committed, and the leader is about to be another node.
		return n.notLeader("raft")
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("raftcluster: not enqueued before the deadline (not committed): %w", context.DeadlineExceeded)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrShutdown)
	}
	return err
}

// Apply replicates an application command and returns once it has
// committed and been applied on this node, with its log index and the
// ApplyFunc's result. It must run on the leader: elsewhere it returns a
// *NotLeaderError naming the leader. If ctx ends, or leadership is lost,
// while the entry is in flight, the error wraps ErrOutcomeUnknown: the
// command may still commit. ctx without a deadline gets Timeouts.DefaultOp.
func (n *Node) Apply(ctx context.Context, cmd []byte) (uint64, []byte, error) {
	if len(cmd) > MaxAppCommandSize {
		return 0, nil, &OpError{Op: "apply", Err: fmt.Errorf("%w: command of %d bytes exceeds %d", ErrBadCommand, len(cmd), MaxAppCommandSize)}
	}
	if n.isShut() {
		return 0, nil, &OpError{Op: "apply", Err: ErrShutdown}
	}
	if n.raft.State() != raft.Leader {
		return 0, nil, n.notLeader("apply")
	}
	f := n.raft.Apply(encodeApp(cmd), n.ctxTimeout(ctx))
	if err := n.await(ctx, f); err != nil {
		if errors.Is(err, ErrNotLeader) {
			return 0, nil, n.notLeader("apply")
		}
		return 0, nil, opErr("apply", err)
	}
	switch r := f.Response().(type) {
	case appResult:
		return f.Index(), r.resp, nil
	case error:
		return f.Index(), nil, opErr("apply", r)
	}
	return f.Index(), nil, nil
}

// applyControl replicates a control command on the leader and returns the
// state machine's verdict.
func (n *Node) applyControl(ctx context.Context, c command) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader(c.Kind.String())
	}
	f := n.raft.Apply(encodeCommand(c), n.ctxTimeout(ctx))
	if err := n.await(ctx, f); err != nil {
		return 0, err
	}
	if err, ok := f.Response().(error); ok {
		return f.Index(), err
	}
	return f.Index(), nil
}

// Barrier waits until every entry committed before the call has been
// applied on this node. Leader only.
func (n *Node) Barrier(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader("barrier")
	}
	term := n.raft.CurrentTerm()
	if err := n.await(ctx, n.raft.Barrier(n.ctxTimeout(ctx))); err != nil {
		return opErr("barrier", err)
	}
	n.barrierTerm.Store(term)
	return nil
}

// ReadIndex returns an index such that a read of the application state
// after AppliedIndex() >= index (it waits for that) is linearizable: it
// confirms leadership with a quorum (raft.VerifyLeader) after reading the
// commit index. Leader only.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader("read-index")
	}
	if n.barrierTerm.Load() != n.raft.CurrentTerm() {
		// A new leader's commit index may lag its predecessor's until an
		// entry of its own term commits.
		if err := n.Barrier(ctx); err != nil {
			return 0, err
		}
	}
	idx := n.raft.CommitIndex()
	if err := n.await(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, opErr("read-index", err)
	}
	if err := n.WaitApplied(ctx, idx); err != nil {
		return 0, err
	}
	return idx, nil
}

// AppliedIndex returns the last log index applied on this node (cluster
// and application entries alike).
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.Load() }

// CommitIndex returns the commit index known to this node.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// WaitApplied waits until AppliedIndex() >= index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		cur, ch := n.fsm.appliedChan()
		if cur >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &OpError{Op: "wait-applied", Err: ctx.Err()}
		case <-n.done:
			return &OpError{Op: "wait-applied", Err: ErrShutdown}
		}
	}
}

// State returns a copy of the replicated cluster state as applied here.
func (n *Node) State() State { return n.fsm.state() }

// Leader returns the leader's ID and Raft address as this node knows them
// ("" if unknown).
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Subscribe returns a subscription whose channel first holds the current
// state (a MemberJoined per member, MemberExcluded per excluded member,
// WriterChanged for the writer, ResetStarted for the slot holder; all with
// Initial set), then every later event. The channel's capacity is
// max(buf, number of initial events), so the initial state is never
// dropped; later events that find it full are dropped and counted.
func (n *Node) Subscribe(buf int) *Subscription { return n.fsm.subscribe(buf) }

// Snapshot forces a Raft snapshot (of the cluster state only).
func (n *Node) Snapshot(ctx context.Context) error {
	return opErr("snapshot", n.await(ctx, n.raft.Snapshot()))
}

func (n *Node) isShut() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Shutdown stops the node without leaving the cluster (it is still a
// member; see Leave). It fences storage if this node was the writer,
// stops Raft, closes the transport and stores, and closes every
// subscription. It does not wait for the Raft RPCs in flight to members
// that do not answer: it makes them fail. It is idempotent.
func (n *Node) Shutdown() error {
	n.shutOnce.Do(func() {
		if e := n.writerEpoch.Swap(0); e != 0 && n.cfg.Storage != nil {
			n.cfg.Storage.Fence(e)
		}
		close(n.done)
		n.cancel()
		n.wg.Wait()
		// Let Raft resolve the futures still awaited: a future left in one
		// of Raft's queues at Shutdown is never resolved, and its waiter
		// would leak. Raft resolves every future within a few heartbeats
		// (commit, or leadership lost), so the wait is bounded.
		n.mu.Lock()
		var idle chan struct{}
		if n.mu.inflight > 0 {
			idle = make(chan struct{})
			n.mu.idle = idle
		}
		n.mu.Unlock()
		if idle != nil {
			t := newTimer(3*n.cfg.Timeouts.Heartbeat + n.cfg.Timeouts.LeaderLease)
			select {
			case <-idle:
			case <-t.C:
				n.log.Warn("raftcluster: shutdown with Raft operations still in flight")
			}
			t.Stop()
		}
		n.raft.DeregisterObserver(n.obs)
		// raft.Shutdown waits for Raft's goroutines, and a replication
		// goroutine may be blocked sending to a member that does not
		// answer (until the RPC timeout) or in a pipeline whose answers
		// Raft no longer reads (for ever): tell Raft to stop first, then
		// make every send of this node fail, then wait.
		f := n.raft.Shutdown()
		n.rtrans.stop()
		n.trans.stopRaft()
		err := f.Error()
		n.trans.serve(nil, nil)
		if cerr := n.trans.Close(); err == nil {
			err = cerr
		}
		n.closeStores()
		n.hub.close()
		n.shutErr = err
	})
	return n.shutErr
}

// Check verifies the node's invariants: the cluster state's, and that
// the storage role matches it.
func (n *Node) Check() error {
	st := n.State()
	errs := []error{st.Check()}
	if e := n.writerEpoch.Load(); e != 0 && e > st.Epoch {
		errs = append(errs, fmt.Errorf("writer epoch %d ahead of state epoch %d", e, st.Epoch))
	}
	return errors.Join(errs...)
}

// ReadLog calls fn for every application command in the local log from
// index from up to AppliedIndex() at the time of the call, in order. A
// copier uses it to catch up after it reopened its engine on shared
// storage (whose stored index tells from where). It stops at fn's first
// error. Entries before the last compaction return an error wrapping
// ErrCompacted.
func (n *Node) ReadLog(from uint64, fn func(index uint64, cmd []byte) error) error {
	to := n.AppliedIndex()
	if from == 0 {
		from = 1
	}
	for i := from; i <= to; i++ {
		if n.isShut() {
			return &OpError{Op: "read-log", Err: ErrShutdown}
		}
		var l raft.Log
		if err := n.stores.Log.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return &OpError{Op: "read-log", Err: fmt.Errorf("%w: index %d", ErrCompacted, i)}
			}
			return &OpError{Op: "read-log", Err: err}
		}
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := decodeCommand(l.Data)
		if err != nil || c.Kind != kindApp {
			continue
		}
		if err := fn(i, c.App); err != nil {
			return err
		}
	}
	return nil
}
