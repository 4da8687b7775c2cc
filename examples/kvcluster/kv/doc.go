// Package kv is a replicated key-value store on Pebble: Put, Delete and
// batches of them through the Raft log (raftcluster), Get and Scan on any
// member, one physical copy of the database on shared storage.
//
// The cluster runs on raftcluster/replica: each member's Engine is a
// replica.Replica around ReplicaEngine (Pebble through examples/pebblevfs)
// on the member's cow view, the writer's on shared storage, each
// copier's on its own overlay. The replica applies each run of
// consecutive log entries as one synced Pebble batch together with the
// last entry's index (group commit), so the database always knows
// exactly which entries it holds; a node that reopens (a copier reset, a
// promotion, a restart, a failed apply) catches up from that index
// through the node's log, and reads are refused until it has.
//
// Every member's view has cow.Options.HoldRemoved (zero-copy removes): a
// table that the writer's Pebble removes after a compaction while a
// copier may still read it (it existed when the copier joined or last
// reset) moves to cow's holding area on shared storage instead of being
// copied whole into every copier's overlay; it is deleted once the other
// members have reset in turn (HoldResets).
//
// The Raft log is compacted only as far as shared storage durably holds:
// the writer proposes durable markers (replica.EncodeDurable, through
// Engine.Checkpoint every Options.DurableInterval) for the index its
// Pebble database durably reflects (every batch is synced, so the marker
// costs no flush), and every member's raftcluster.Config.CompactableIndex
// (Engine.CompactableIndex) follows them. With it set, raftcluster
// compacts eagerly (a snapshot every 64 entries, 256 kept), so a member
// that joins, or comes back after a long absence, receives the cluster
// state and a short tail, not the log. A copier whose own database misses
// entries the log no longer holds (it received a Raft snapshot past it)
// asks for a reset (Hooks.NeedReset): Storage reports its overlay at
// ResetOnRequest, the leader grants it the reset slot, and it reopens on
// shared storage and catches up from there. Before a copier becomes the
// writer, Storage drops its view if it has such a gap
// (replica.Replica.DropGapView): it becomes the writer on shared storage
// as the old writer left it, never promoting an older database over
// acknowledged writes.
//
// ReplicaEngine is the Pebble adapter (open, apply a batch with its
// index, close) and passes replicatest.Run; Engine adds the member's
// side: the log (the node's), the netstorage.Engine methods, reads, Check.
//
// # Usage
//
// An in-process cluster (members on a clustertest.RaftNetwork, views from
// raftcluster/netstorage over a stabilitytest.Network):
//
//	c, err := kv.StartLocal(ctx, kv.Options{Nodes: 3})
//	defer c.Close()
//	idx, err := c.Write(ctx, kv.Put(k, v), kv.Delete(old)) // one atomic batch
//	c.WaitApplied(ctx, idx)
//	v, err := c.Live()[1].Engine.Get(k)
//	pairs, applied, err := c.Live()[2].Engine.Scan(start, end, 100)
//
// To run members elsewhere, give each node an Engine: its ApplyBatch as
// raftcluster.Config.ApplyBatch, its OnRestore as Config.OnRestore, its
// CompactableIndex as Config.CompactableIndex, the Engine itself to the
// member's netstorage.Storage (netstorage.New over stability's gRPC
// transport) and NewStorage of both as Config.Storage, with
// Config.ResetThreshold at most ResetOnRequest; call Checkpoint on the
// writer now and then; propose Command(ops...) to write.
//
// The caller must:
//
//  1. Propose only Command's output (replica.EncodeCommand of Encode)
//     and route every application command of the log, in order, to
//     Engine.ApplyBatch (or Apply): an entry that is not framed for the
//     replica is ignored, and a framed command Decode refuses writes
//     nothing, alike on every member.
//  2. Read through an engine only at the consistency it gives: Get and
//     Scan reflect the entries that engine applied (level none); wait
//     with Cluster.WaitApplied (or the node's WaitApplied and the
//     engine's Applied) for a later index.
//  3. Treat a Write error wrapping raftcluster.ErrOutcomeUnknown as "may
//     or may not have committed": read back before retrying.
//  4. Running members elsewhere: set CompactableIndex and Storage (NewStorage)
//     and a ResetThreshold (ResetOnRequest, or lower) as above, and call
//     Engine.Checkpoint on the writer periodically; without markers the
//     log is never compacted, and without NewStorage a copier behind the
//     compacted log never resets and a gapped copier view may be promoted.
//  5. Close the Cluster (or Shutdown every Engine) when done.
//
// # Caveats
//
//   - The log is compacted only up to the last durable marker, so up to
//     DurableInterval (1s) of entries, plus raftcluster's trailing 256,
//     stay in every member's log; a writer that cannot apply (its view
//     refuses) proposes no marker, and compaction waits for the next one.
//   - A copier behind the compacted log resets only once the leader grants
//     it the reset slot (one copier at a time); until then it refuses
//     reads (ErrClosed).
//   - Kill shuts the engine down before the node shuts down, so Pebble on
//     the old writer's view never meets a closed Guard mid-flush.
//   - Every Pebble batch is synced on the writer: one fsync per run of
//     consecutive entries. Raft's log already makes it durable, so a
//     deployment could sync at intervals and report the synced index
//     instead.
//   - Get and Scan do not wait: they fail with ErrClosed while the
//     database is withdrawn (closed between roles, or reopening after a
//     failed apply), and on a writer view whose node is no longer the
//     writer (the log's Guard, checked before and after the read).
//
// # Concurrency
//
// Cluster, Engine and Storage are safe for concurrent use (raftcluster
// calls a Storage's role changes one at a time). An Engine's applies,
// opens, closes and recoveries serialize in its replica (Raft's FSM
// goroutine, the Storage's role changes, the replica's recovery loop);
// its reads run beside them on Pebble's snapshot isolation.
package kv
