package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// Backend is what the HTTP API serves: one node of a replicated SQL
// database. The sqlcluster node implements it over Raft; Standalone implements
// it over one sqlnode.Node, for a single node and for tests.
//
// Errors: a Backend returns *NotLeaderError when the request needs the
// leader and this node is not it (the Server forwards it), errors wrapping
// ErrUnavailable (503), ErrNotFound (404), ErrBadRequest (400),
// sqlnode.ErrRejected (400), sqlnode.ErrTooLarge (413), a context error
// (504 for a deadline, 503 otherwise), errors.ErrUnsupported (501),
// ErrOutcomeUnknown (500, with its text). Any other error is a 500 without
// details. SQL errors are not errors: they are in the Results.
//
// Concurrency: every method may be called concurrently.
type Backend interface {
	// Execute runs req through the replicated log and returns the
	// response of applying it: its log index and one Result per SQL
	// statement run (statements after a failing one do not run, and a
	// failure rolls back the whole request, RolledBack). The caller has
	// not called sqlnode.Prepare: Execute does, on the node that appends
	// to the log.
	Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error)

	// Query runs read-only statements at the given consistency level
	// (see Level) in one read transaction. ctx may carry a Freshness
	// (FreshnessFrom) for LevelNone and LevelAuto; a read that it refuses
	// fails with an error wrapping ErrStale. A statement that would write
	// gets sqlnode.ErrReadOnly in its Result.Error.
	Query(ctx context.Context, level Level, stmts []sqlnode.Statement) ([]sqlnode.Result, error)

	// Status describes this node, for GET /status.
	Status(ctx context.Context) (Status, error)

	// Nodes lists the cluster's members as this node knows them, with
	// their HTTP API addresses, for GET /nodes and client leader
	// discovery.
	Nodes(ctx context.Context) ([]NodeInfo, error)

	// Ready returns nil when this node can serve requests (it knows a
	// leader and its database is open), for GET /readyz.
	Ready(ctx context.Context) error

	// Join adds a node to the cluster; only the leader can
	// (*NotLeaderError elsewhere). The Server has checked that the client
	// may join as req.ID (see Credentials).
	Join(ctx context.Context, req JoinRequest) error

	// Remove removes the node with the given ID from the cluster
	// (ErrNotFound if there is none); only the leader can.
	Remove(ctx context.Context, id string) error
}

// Level is a read consistency level, as rqlite names them. The levels
// none to strong each give at least the guarantees of the ones before
// it; auto picks one of them.
type Level int

const (
	// LevelNone reads this node's database as it is, with no check:
	// fastest, possibly stale, possibly from a node cut off from the
	// cluster. It never forwards. With a freshness bound (rqlite's
	// ?freshness, see WithFreshness) a node that is not the leader
	// refuses the read (503, ErrStale) unless it heard from the leader
	// within the bound; with freshness_strict it must also have applied
	// every entry the leader told it was committed then, so that the
	// read reflects every write the leader had acknowledged about
	// freshness (plus one network hop) before the read.
	LevelNone Level = iota
	// LevelWeak reflects every write that the node which believes it is
	// the leader had acknowledged before the read arrived, on whichever
	// node serves it: a follower asks the leader for its commit index
	// (one small request, no quorum round), waits until it has applied
	// it, and reads its own database. A client thus reads its own
	// acknowledged writes through any node. A leader deposed without
	// knowing it (for at most an election timeout) may answer for its
	// successor, so a read may miss a write the new leader acknowledged
	// in that window, as in rqlite.
	LevelWeak
	// LevelLinearizable confirms the leader's leadership with a quorum
	// (Raft read-index: heartbeat round, then wait until the commit index
	// at the start of the read is applied). The read sees every write
	// acknowledged by any leader before it began.
	LevelLinearizable
	// LevelStrong is linearizable too; rqlite sends such reads through
	// the log, here they take the read-index path of LevelLinearizable
	// (the same guarantee, without a log entry).
	LevelStrong
	// LevelAuto is rqlite's auto: LevelNone on a non-voting member (a
	// read-only node; a freshness bound applies), LevelWeak on a voter.
	LevelAuto
)

var levelNames = [...]string{"none", "weak", "linearizable", "strong", "auto"}

// String returns rqlite's name of l.
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel parses rqlite's level names; "" is LevelWeak, rqlite's
// default. Any other name gets an error wrapping ErrBadRequest.
func ParseLevel(s string) (Level, error) {
	if s == "" {
		return LevelWeak, nil
	}
	for i, n := range levelNames {
		if n == s {
			return Level(i), nil
		}
	}
	return 0, badRequest("unknown level %q (want none, weak, linearizable, strong or auto)", s)
}

// Freshness bounds how stale a read at LevelNone (or LevelAuto on a
// non-voter) may be: rqlite's ?freshness and ?freshness_strict.
type Freshness struct {
	// Max is the bound; 0 means none.
	Max time.Duration
	// Strict also requires the node to have applied what the leader had
	// committed when it last heard from it.
	Strict bool
}

type freshnessKey struct{}

// WithFreshness returns ctx carrying f, for Backend.Query.
func WithFreshness(ctx context.Context, f Freshness) context.Context {
	return context.WithValue(ctx, freshnessKey{}, f)
}

// FreshnessFrom returns the Freshness that ctx carries (zero: none).
func FreshnessFrom(ctx context.Context) Freshness {
	f, _ := ctx.Value(freshnessKey{}).(Freshness)
	return f
}

// Status describes one node, for GET /status. The Server lays it out as
// rqlite's /status does (store.node_id, store.leader.node_id,
// store.leader.addr, store.raft.state, ...), enough for clients' leader
// discovery.
type Status struct {
	// NodeID and RaftAddr identify this node.
	NodeID   string
	RaftAddr string
	// LeaderID and LeaderRaftAddr name the leader; "" if none is known.
	LeaderID       string
	LeaderRaftAddr string
	// State is the Raft state: "Leader", "Follower", "Candidate",
	// "Shutdown".
	State string
	// Term, CommitIndex and AppliedIndex are the Raft term, the commit
	// index known here, and the last index applied to the database.
	Term, CommitIndex, AppliedIndex uint64
	// Extra holds further sections, shown under "holeycow" (stability
	// rounds, overlay bytes, lease state, ...). Values must marshal to
	// JSON.
	Extra map[string]any
}

// NodeInfo is one cluster member, for GET /nodes.
type NodeInfo struct {
	ID string
	// APIAddr is the node's HTTP API base URL ("http://host:port").
	APIAddr string
	// Addr is the node's Raft address.
	Addr  string
	Voter bool
	// Reachable is what the serving node observed (an answer within a
	// heartbeat timeout, or to a probe), never merely "not excluded".
	Reachable bool
	Leader    bool
	// Time is how long contacting the node took, in seconds; Error says
	// why it is not reachable.
	Time  float64
	Error string
}

// JoinRequest is the body of POST /join, as rqlite's.
type JoinRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"` // Raft address
	// APIAddr is the joining node's HTTP API base URL (our addition: the
	// cluster needs it to forward requests and to list it in /nodes).
	APIAddr string `json:"api_addr,omitempty"`
	// Voter is true unless the node joins as a non-voter; rqlite's
	// default is true.
	Voter *bool `json:"voter,omitempty"`
}

// IsVoter reports whether the join asks for a voter (the default).
func (j JoinRequest) IsVoter() bool { return j.Voter == nil || *j.Voter }
