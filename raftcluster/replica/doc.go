// Package replica turns a single-node storage engine into a member of a
// holeycow cluster: the engine applies the Raft log's commands to its own
// files on a vfs.FS view (the writer's view is shared storage itself, a
// copier's is its copy-on-write overlay), and a Replica does everything
// else.
//
// An engine plugs in with two small interfaces. Engine[D] opens the
// engine's database on a view; D (a DB) reports the log index stored in
// it, applies a batch of entries atomically with that index, makes it
// durable and closes. A Replica[D] owns the rest:
//
//   - catch-up: on Open it replays the log from the index stored in the
//     database (from the log's first entry on a view that shows shared
//     storage as it is, whose database reflects every compacted entry);
//   - group commit: runs of consecutive commands handed to Apply reach
//     the engine in one DB.Apply call (at most Config.MaxBatch);
//   - recovery: after a failed DB.Apply the database is withdrawn, closed,
//     reopened on the same view and caught up from its stored index, from
//     the apply path or from a background loop, every Config.RecoverEvery;
//   - publication: readers Acquire the database only while it is caught
//     up, and wait (or fail with ErrNotReady) while it reopens;
//   - durable-index bookkeeping: on the writer, DurableIndex syncs and
//     names a log index that shared storage durably reflects; the
//     markers that carry it through the log (EncodeDurable) are noted as
//     they apply (Hooks.OnDurable);
//   - the state at an index: At runs a function on the database as it
//     is after exactly the entries up to an index (a checksum to compare
//     members), serving it inside the Apply call that passes the index;
//   - promotion checks: a copier view whose database misses entries the
//     log no longer holds (a Raft snapshot installed past it) is dropped
//     before promotion (DropGapView) and the replica asks for a reset;
//     a writer view reads only while the Log's fencing Guard passes.
//
// Log entries carry the replica's framing: EncodeCommand wraps an
// engine command, EncodeDurable a durable marker. Entries that are
// neither are ignored on every member alike.
//
// # What an engine must guarantee
//
//  1. Deterministic apply: the same entries applied to the same state
//     give the same state on every member, whatever the batch sizes. No
//     clocks, randomness or map order in what is stored.
//  2. Atomic index: DB.Apply stores the index of the batch's last entry
//     in the same atomic write as the batch's effects. After Apply
//     returns nil, Applied returns that index; after it fails, nothing of
//     the batch may be visible once the database is reopened.
//  3. Crash recovery to a committed prefix: reopened after a crash (a
//     power loss of the view at any point), the database holds exactly
//     the effects of entries 1..Applied(), for some Applied() at least the
//     index of the last Sync or of the last synced Apply.
//  4. Open on the view only: every file the engine touches is on the
//     vfs.FS it was given (node-local scratch such as a WAL index is the
//     engine's own business and must be dropped when the view changes).
//  5. Sync makes every applied batch durable on the view.
//  6. Close releases the view; the replica never uses a closed DB again.
//
// A DB may also implement Interrupter (cancel a long Apply, for shutdown)
// and Checker (verify its own invariants, for tests and Check).
// replicatest.Run checks 1 to 3 on any engine, the way vfstest checks a
// file system.
//
// # Concurrency
//
// A Replica is safe for concurrent use. Apply, Open, Close, DurableIndex,
// OnRestore, DropGapView, Check, Locked, CatchUpTo, At, Hold and the
// recovery loop serialize on one apply lock, so the engine's DB sees one call at a
// time except for readers, which share the published DB between Acquire
// and release (the DB must allow reads concurrent with Apply if the
// caller reads while it applies). Hooks run under the apply lock and must
// not call the Replica; Interrupt never waits for it.
//
// # What the caller must do
//
//  1. Put every command through EncodeCommand before proposing it, and
//     hand every committed entry, in log order, to Apply (from
//     raftcluster's ApplyBatch callback); hand Raft's OnRestore to
//     OnRestore.
//  2. Attach the Log (a *raftcluster.Node) with SetLog before the first
//     Open can finish: Open waits for it.
//  3. Open the replica on each new view the Storage gives and Close it
//     before the view goes away; call Shutdown once at the end (after
//     Interrupt, if the engine may be in a long apply).
//  4. Set raftcluster's CompactableIndex from the durable markers
//     (Hooks.OnDurable), and propose EncodeDurable(DurableIndex()) on
//     the writer now and then, so the log is never compacted past what
//     shared storage durably holds.
//  5. Call DropGapView before the member becomes the writer, and reset the
//     member when Hooks.NeedReset is called.
//  6. Release every Acquire'd database promptly: Close waits for readers.
package replica
