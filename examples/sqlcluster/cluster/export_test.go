package cluster

import (
	"context"
	"sync/atomic"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/replica"
)

// This file lends the external tests (package cluster_test, which run on
// localcluster, a package that imports this one) what they check inside a
// Node.

// NodeStorage is a Node seen from its Storage's side.
type NodeStorage = nodeStorage

// ResetRequested is the overlay size a copier reports to ask for a reset.
const ResetRequested = resetRequested

// SQLDB is the database a Node's replica opens.
type SQLDB = sqlDB

// ClassifyFailure is classifyFailure.
var ClassifyFailure = classifyFailure

// Compactable is n.compactable.
func Compactable(n *Node) uint64 { return n.compactable() }

// MapErr is a Backend's mapErr.
func MapErr(err error) error { return (&Backend{}).mapErr(err) }

// OnWriterView reports whether n's storage holds a writer view.
func OnWriterView(n *Node) bool { return (*nodeStorage)(n).onWriterView() }

// HoldApply holds n's apply lock (and withdraws its database from readers
// if unready) until the returned function runs.
func HoldApply(n *Node, unready bool) (release func()) { return n.eng.rep.Hold(unready) }

// EngineReady reports whether n's database is published.
func EngineReady(n *Node) bool { return n.eng.ready() }

// ResetReq is n's pending reset request.
func ResetReq(n *Node) *atomic.Bool { return &n.resetReq }

// SetNeedReset replaces what n's engine does when it finds it must reset
// (hold n's apply lock while calling it).
func SetNeedReset(n *Node, f func()) { n.eng.needReset = f }

// LockedDB runs f on n's replica state under its lock.
func LockedDB(n *Node, f func(replica.State[*SQLDB])) { n.eng.rep.Locked(f) }

// VFSName is the name of the VFS db is registered under.
func VFSName(db *SQLDB) string { return db.vfsName }

// RowsCollected is db's sqlnode.Node.RowsCollected.
func RowsCollected(db *SQLDB) int64 { return db.n.RowsCollected() }

// Store is n's Storage.
func Store(n *Node) Storage { return n.store }

// ResetStorage resets n's storage as a refresh does (the handshake with
// the writer), under n's storage lock, with no writer named.
func ResetStorage(ctx context.Context, n *Node) error {
	n.ref.lockStorage()
	defer n.ref.unlock()
	return n.store.Reset(ctx, n.raft.State().Epoch, raftcluster.Member{})
}

// ReadFailed is what n's engine makes of err, a read that failed on the
// view it published.
func ReadFailed(ctx context.Context, n *Node, err error) error {
	return n.eng.readFailed(ctx, n.eng.publishedView(), err)
}

// WaitStorage waits until the storage call in flight on n (a role
// change, a reset), if any, has returned with its bookkeeping; a refresh
// in flight is canceled, as any storage call cancels it.
func WaitStorage(n *Node) {
	n.ref.lockStorage()
	n.ref.unlock()
}
