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
// raftcluster.Config.ApplyBatch, its OnRestore as Config.OnRestore, and
// the Engine itself to the member's raftcluster Storage (netstorage.New
// over stability's gRPC transport); propose Command(ops...) to write.
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
//  4. Close the Cluster (or Shutdown every Engine) when done.
//
// # Caveats
//
//   - Config.CompactableIndex is not set, so raftcluster keeps
//     hashicorp/raft's snapshot defaults (8192 entries): a copier that
//     resets or joins after the log was compacted past its database's
//     index cannot catch up. Fine for the demo and tests; a long-running
//     deployment must report the writer's durable index there.
//     For the same reason no durable markers (replica.EncodeDurable) are
//     proposed, and the replica's reset request (Hooks.NeedReset) and
//     its check before promotion (replica.Replica.DropGapView) are not
//     wired in: a copier whose database misses compacted entries fails
//     its catch-up (raftcluster.ErrCompacted) instead of resetting.
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
// Cluster and Engine are safe for concurrent use. An Engine's applies,
// opens, closes and recoveries serialize in its replica (Raft's FSM
// goroutine, the Storage's role changes, the replica's recovery loop);
// its reads run beside them on Pebble's snapshot isolation.
package kv
