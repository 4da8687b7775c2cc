package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

// Standalone is a Backend over one sqlnode.Node and no replication: a
// one-node cluster whose log is a counter. Execute prepares the request
// and applies it at the next index; every read level is satisfied by a
// plain read, since a write is applied before Execute returns and there is
// no other node. It serves single-node deployments and tests.
//
// Concurrency: safe for concurrent use; Execute calls serialize.
type Standalone struct {
	node *sqlnode.Node
	id   string

	// mu serializes Execute (indexes are handed out in apply order) and
	// guards apiAddr.
	mu struct {
		sync.Mutex
		apiAddr string
	}
}

var _ Backend = (*Standalone)(nil)

// NewStandalone returns a Standalone serving node under the node ID id. The caller
// keeps ownership of node and closes it after the Server is done.
func NewStandalone(node *sqlnode.Node, id string) *Standalone {
	return &Standalone{node: node, id: id}
}

// SetAPIAddr sets the HTTP API base URL that /nodes reports, which
// clients such as gorqlite use as the leader's address.
func (l *Standalone) SetAPIAddr(u string) {
	l.mu.Lock()
	l.mu.apiAddr = u
	l.mu.Unlock()
}

func (l *Standalone) apiAddr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.apiAddr
}

// Execute prepares req and applies it at AppliedIndex()+1.
func (l *Standalone) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	if err := ctx.Err(); err != nil {
		return sqlnode.Response{}, context.Cause(ctx)
	}
	cmd, err := sqlnode.Prepare(req, sqlnode.Env{})
	if err != nil {
		return sqlnode.Response{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.node.Apply(l.node.AppliedIndex()+1, cmd)
}

// Query reads the node's database; every level reads the same.
func (l *Standalone) Query(ctx context.Context, level Level, stmts []sqlnode.Statement) ([]sqlnode.Result, error) {
	if level < LevelNone || level > LevelAuto {
		return nil, badRequest("unknown level %d", int(level))
	}
	return l.node.Query(ctx, stmts)
}

// Status reports the node as the leader of a one-node cluster.
func (l *Standalone) Status(ctx context.Context) (Status, error) {
	idx := l.node.AppliedIndex()
	return Status{
		NodeID: l.id, LeaderID: l.id, State: "Leader",
		Term: 1, CommitIndex: idx, AppliedIndex: idx,
	}, nil
}

// Nodes lists the one node.
func (l *Standalone) Nodes(ctx context.Context) ([]NodeInfo, error) {
	return []NodeInfo{{ID: l.id, APIAddr: l.apiAddr(), Voter: true, Reachable: true, Leader: true}}, nil
}

// Ready runs a trivial read, which fails once the node is closed.
func (l *Standalone) Ready(ctx context.Context) error {
	rs, err := l.node.Query(ctx, []sqlnode.Statement{{SQL: "SELECT 1"}})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(rs) != 1 || rs[0].Error != "" {
		return fmt.Errorf("%w: the database does not answer %v", ErrUnavailable, rs)
	}
	return nil
}

// Join fails: a Standalone has one node.
func (l *Standalone) Join(ctx context.Context, req JoinRequest) error {
	return fmt.Errorf("httpapi: a Standalone backend has one node, it cannot join %q: %w", req.ID, errors.ErrUnsupported)
}

// Remove fails: a Standalone has one node.
func (l *Standalone) Remove(ctx context.Context, id string) error {
	if id != l.id {
		return fmt.Errorf("httpapi: no node %q: %w", id, ErrNotFound)
	}
	return fmt.Errorf("httpapi: a Standalone backend cannot remove its only node: %w", errors.ErrUnsupported)
}

// Check verifies the node's invariants (its applied index matches the one
// stored in the database, no transaction is left open).
func (l *Standalone) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.node.Check()
}

// BackupTo implements Backuper.
func (l *Standalone) BackupTo(ctx context.Context, level Level, path string) error {
	if level < LevelNone || level > LevelAuto {
		return badRequest("unknown level %d", int(level))
	}
	return l.node.BackupTo(ctx, path)
}
