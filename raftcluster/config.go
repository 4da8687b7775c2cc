package raftcluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Timeouts tunes Raft and the writer lease.
type Timeouts struct {
	// Heartbeat is how long a follower waits without hearing from the
	// leader before it starts an election (hashicorp/raft's
	// HeartbeatTimeout), and Election how long a candidate waits.
	Heartbeat time.Duration
	Election  time.Duration
	// LeaderLease is how long a leader keeps leading without hearing from
	// a quorum (must be <= Heartbeat).
	LeaderLease time.Duration
	// Commit bounds how long the leader batches before committing.
	Commit time.Duration
	// WriterLease is how long a successful quorum check keeps the
	// writer's Guard open. A new writer waits WriterLease*(1+MaxDrift)
	// after its epoch commits before it mutates.
	WriterLease time.Duration
	// MaxDrift is the bound assumed on the relative clock-rate error
	// between members (e.g. 0.05 = 5%).
	MaxDrift float64
	// RPC bounds one Raft RPC on the network transport.
	RPC time.Duration
	// DefaultOp bounds Node operations whose context has no deadline.
	DefaultOp time.Duration
}

// DefaultTimeouts suits a WAN-ish deployment (hashicorp/raft's defaults).
func DefaultTimeouts() Timeouts {
	return Timeouts{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond,
		Commit: 50 * time.Millisecond, WriterLease: 500 * time.Millisecond, MaxDrift: 0.05,
		RPC: 10 * time.Second, DefaultOp: 10 * time.Second}
}

// LANTimeouts suits members on one LAN (sub-millisecond round trips).
//
// The leader lease equals the heartbeat timeout (the most hashicorp/raft
// allows): a leader steps down only after hearing from no quorum for as
// long as a follower waits before it calls an election. Failover takes
// about 1.5-2 heartbeat timeouts (about 1.25 when the leader's process
// died: see doc.go, Failover timing); a process stall longer than the lease
// looks like a dead leader. Measured on a 2-core machine shared with
// other work (load average 9-24) by examples/sqlcluster/server's
// TestServe_availability (3 serve processes, 16 writers for 60 s, then 10
// SIGKILLs of the writer), runs with a step-down ÷ runs, and the medians
// of the runs' failover p50: 175 ms throughout with a 200 ms writer lease
// (these): 2/4, 396 ms; the earlier 200/200/100 ms with 100 ms: 5/7, 489
// ms; 150 ms with 200 ms: 6/10, 359 ms; 200 ms throughout: 2/6, 517 ms.
// No setting kept every run free of failed requests under that load;
// raise Heartbeat and LeaderLease together where stalls are longer.
func LANTimeouts() Timeouts {
	return Timeouts{Heartbeat: 175 * time.Millisecond, Election: 175 * time.Millisecond,
		LeaderLease: 175 * time.Millisecond, Commit: 10 * time.Millisecond,
		WriterLease: 200 * time.Millisecond, MaxDrift: 0.05, RPC: 2 * time.Second, DefaultOp: 5 * time.Second}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	if t.Heartbeat <= 0 {
		t.Heartbeat = d.Heartbeat
	}
	if t.Election <= 0 {
		t.Election = d.Election
	}
	if t.LeaderLease <= 0 {
		t.LeaderLease = min(d.LeaderLease, t.Heartbeat)
	}
	if t.Commit <= 0 {
		t.Commit = d.Commit
	}
	if t.WriterLease <= 0 {
		t.WriterLease = t.LeaderLease
	}
	if t.MaxDrift <= 0 {
		t.MaxDrift = d.MaxDrift
	}
	if t.RPC <= 0 {
		t.RPC = d.RPC
	}
	if t.DefaultOp <= 0 {
		t.DefaultOp = d.DefaultOp
	}
	return t
}

// fenceDelay is how long a new writer waits after its epoch committed.
func (t Timeouts) fenceDelay() time.Duration {
	return time.Duration(float64(t.WriterLease) * (1 + t.MaxDrift))
}

// Stores are the Raft log, stable and snapshot stores of one node. Keep a
// Stores value to restart a node from the same state (tests:
// clustertest.NewStores); production nodes use Config.DataDir instead.
type Stores struct {
	Log    raft.LogStore
	Stable raft.StableStore
	Snap   raft.SnapshotStore
}

// Config configures a Node.
type Config struct {
	// ID names the member; unique and stable across restarts.
	ID string
	// StabilityAddr is where this member's stability endpoint listens
	// (opaque to raftcluster; recorded in the cluster state).
	StabilityAddr string
	// Transport carries Raft (NewTLSTransport, or a
	// clustertest.RaftNetwork's in tests). Its Addr is this member's Raft
	// address. The node owns it and closes it on Shutdown.
	Transport Transport
	// DataDir holds the stable store (raft-boltdb, raft.db), the log
	// store (see LogStore) and file snapshots. Ignored when Stores is set.
	// One of the two is required.
	DataDir string
	Stores  *Stores
	// LogStore picks the log store in DataDir: LogStoreWAL (the default,
	// "") or LogStoreBolt. A DataDir keeps the kind it was created with:
	// opening it with the other is refused (ErrLogStoreMismatch).
	LogStore LogStoreKind
	// Timeouts; the zero value means DefaultTimeouts.
	Timeouts Timeouts
	// Logger receives this package's and hashicorp/raft's logs (nil =
	// discard).
	Logger *slog.Logger
	// Apply is the application's state machine (nil = application
	// commands are committed but not applied anywhere).
	Apply ApplyFunc
	// ApplyBatch, if set instead of Apply, receives runs of consecutive
	// application commands in one call, so that the application can
	// commit them together (group commit under concurrent writers).
	ApplyBatch ApplyBatchFunc
	// CompactableIndex, if set, returns the highest log index that the
	// application has made durable on shared storage. Raft snapshots (and
	// so log compaction) are deferred until it reaches the applied index.
	CompactableIndex func() uint64
	// Storage receives role changes (nil = none; the node still
	// replicates and tracks the writer).
	Storage Storage
	// MaxVoters bounds the number of live Raft voters (default 5).
	// Members beyond it stay non-voters.
	MaxVoters int
	// DeadVoterAfter: the leader demotes a voter that it could not
	// heartbeat for this long to non-voter, so that a dead member stops
	// counting towards quorum (default 30*Heartbeat; negative = never).
	// A live caught-up non-voter is promoted in its place first where
	// there is one, and the leader never demotes below min(3, MaxVoters)
	// voters otherwise. A demoted member that comes back is promoted
	// again once it has reported in.
	DeadVoterAfter time.Duration
	// WriterPreferenceMargin: when the writer fails, the new Raft leader
	// hands leadership to the live voter with the smallest reported
	// overlay (the cheapest to promote) if that overlay is smaller than
	// its own by at least this many bytes and by at least a quarter
	// (reported sizes lag by up to an eighth) (default 1 MiB; negative =
	// never hand over, the new leader always becomes the writer).
	WriterPreferenceMargin int64
	// ResetThreshold: a copier whose reported overlay reaches this many
	// bytes is granted the reset slot (0 = never).
	ResetThreshold int64
	// ResetAt, if set, replaces ResetThreshold with a threshold that may
	// move (with the size of the application's data, say): the leader
	// calls it when it considers granting the slot, every member when it
	// considers reporting its overlay. It must be cheap and safe for
	// concurrent use.
	ResetAt func() int64
	// ExcludeAfter: the leader excludes a copier that it could not
	// heartbeat for this long (0 = only explicit Node.Exclude). It must
	// exceed the stability layer's copier lease (invariant 7).
	ExcludeAfter time.Duration
	// ReportInterval is how often a member considers reporting its overlay
	// size (default 10*Heartbeat); it reports when the size changed by more
	// than 1/8 and 1 MiB, or crossed ResetThreshold, since the last report.
	ReportInterval time.Duration
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune Raft
	// snapshots, which hold the cluster state only and so cost next to
	// nothing: every SnapshotInterval (to twice that, randomized) a node
	// takes one if its log grew by SnapshotThreshold entries since the
	// last, and compacts its log up to it, keeping TrailingLogs entries.
	// With CompactableIndex set, the defaults are eager
	// (DefaultSnapshotThreshold, DefaultSnapshotInterval,
	// DefaultTrailingLogs), since CompactableIndex defers a snapshot while
	// the application has not made the applied index durable; without it,
	// nothing tells what is safe to drop, and they are hashicorp/raft's
	// (8192 entries, 120s, 10240 entries). A member that joins, or comes
	// back after its log fell behind the leader's compaction, receives the
	// latest snapshot and the entries after it (Join snapshots first), not
	// the whole log: its application catches up from its shared database
	// (see OnRestore).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// OnRestore, if set, is called on the FSM goroutine (serialized with
	// Apply) after a snapshot replaced the cluster state at index: at
	// start, the node's own latest snapshot; later, one the leader sent
	// because this node's log lagged behind the leader's compaction. The
	// application commands up to index are never handed to Apply in this
	// process: an application whose state lags behind index must catch up
	// from shared storage (reopen it and ReadLog from the index stored in
	// it), resetting its copier view if its own changes hide it.
	OnRestore func(index uint64)
}

// Snapshot defaults with Config.CompactableIndex set: eager, since a Raft
// snapshot is the cluster state only (a few KiB) and compaction is what
// keeps joins and restarts from shipping the log.
const (
	DefaultSnapshotThreshold = 64
	DefaultSnapshotInterval  = time.Second
	DefaultTrailingLogs      = 256
)

func (c *Config) validate() error {
	if c.ID == "" || len(c.ID) > maxStringLen {
		return fmt.Errorf("%w: ID must be 1..%d bytes", ErrInvalidConfig, maxStringLen)
	}
	if c.Apply != nil && c.ApplyBatch != nil {
		return fmt.Errorf("%w: set Apply or ApplyBatch, not both", ErrInvalidConfig)
	}
	if c.Transport == nil {
		return fmt.Errorf("%w: Transport is required", ErrInvalidConfig)
	}
	if c.Stores == nil && c.DataDir == "" {
		return fmt.Errorf("%w: DataDir or Stores is required", ErrInvalidConfig)
	}
	kind, err := ParseLogStoreKind(string(c.LogStore))
	if err != nil {
		return err
	}
	c.LogStore = kind
	if len(c.StabilityAddr) > maxStringLen || len(c.Transport.Addr()) > maxStringLen {
		return fmt.Errorf("%w: address longer than %d bytes", ErrInvalidConfig, maxStringLen)
	}
	c.Timeouts = c.Timeouts.withDefaults()
	if c.Timeouts.LeaderLease > c.Timeouts.Heartbeat {
		return fmt.Errorf("%w: LeaderLease %v exceeds Heartbeat %v", ErrInvalidConfig, c.Timeouts.LeaderLease, c.Timeouts.Heartbeat)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxVoters <= 0 {
		c.MaxVoters = 5
	}
	if c.DeadVoterAfter == 0 {
		c.DeadVoterAfter = 30 * c.Timeouts.Heartbeat
	}
	if c.WriterPreferenceMargin == 0 {
		c.WriterPreferenceMargin = 1 << 20
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = 10 * c.Timeouts.Heartbeat
	}
	threshold, interval, trailing := uint64(DefaultSnapshotThreshold), DefaultSnapshotInterval, uint64(DefaultTrailingLogs)
	if c.CompactableIndex == nil {
		rd := raft.DefaultConfig()
		threshold, interval, trailing = rd.SnapshotThreshold, rd.SnapshotInterval, rd.TrailingLogs
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = threshold
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = interval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = trailing
	}
	return nil
}

// Storage is the storage side of a member: the cow view, the stability
// coordinator (writer) or responder (copier), and the application's engine
// on top. The node calls it from one goroutine, never concurrently, in the
// order the replicated state changes. A method that returns an error is
// called again later (after Heartbeat) while the condition still holds.
// The context passed is canceled by Node.Shutdown and has no deadline
// (promotion and reset take as long as they take); while one call runs,
// the node cannot deliver the next (Guard does not wait for Storage: it
// closes on its own when the epoch or lease ends).
type Storage interface {
	// BecomeWriter: this node is the writer of epoch. Called once the
	// epoch has committed and WriterLease*(1+MaxDrift) has passed (so the
	// previous writer's Guard has closed). A copier view promotes itself
	// (cow.View.Promote); the stability coordinator starts at epoch.
	// Node.Guard opens just before the call (the promotion's own writes
	// to shared storage go through it).
	BecomeWriter(ctx context.Context, epoch uint64) error
	// BecomeCopier: writer is the writer of epoch and this node a copier.
	// Called when the writer or epoch changes. If this node was the
	// writer before (Fence was called), its view is not a copier's: it
	// must reopen on shared storage as a fresh copier.
	BecomeCopier(ctx context.Context, epoch uint64, writer Member) error
	// SetCopiers (writer only): the copiers the writer must wait for in
	// stability rounds, at the given copier generation. A copier whose
	// Generation changed since the last call reset or rejoined: the
	// writer must forget its stable set for it.
	SetCopiers(epoch, generation uint64, copiers []Member)
	// Fence: this node is no longer the writer of epoch (it lost
	// leadership, or a newer epoch committed). It must stop mutating
	// shared storage at once; Node.Guard is already closed when it is
	// called. It must not block.
	Fence(epoch uint64)
	// Reset: this copier holds the reset slot, or was excluded and must
	// reset before rejoining. Close the engine, drop the overlay (through
	// the writer's ResetHandshake when there is a writer), reopen on
	// shared storage and catch up from the log. The node reports
	// ResetDone (or Rejoin) when it returns nil.
	Reset(ctx context.Context, epoch uint64, writer Member) error
	// OverlayBytes returns the copier overlay's size (0 for a writer).
	OverlayBytes() int64
}
