// Package kv is a replicated key-value store on Pebble: Put, Delete and
// batches of them through the Raft log (raftcluster), Get and Scan on any
// member, one physical copy of the database on shared storage.
//
// Each member runs an Engine: Pebble (through examples/pebblevfs) on the
// member's cow view, the writer's on shared storage, each copier's on its
// own overlay. Every log entry is one batch of writes; the engine commits
// it as one synced Pebble batch together with the entry's index, so the
// database always knows exactly which entries it holds, and a node that
// reopens (a copier reset, a promotion, a restart) catches up from that
// index through the node's log.
//
// Every member's view has cow.Options.HoldRemoved (zero-copy removes): a
// table that the writer's Pebble removes after a compaction while a
// copier may still read it (it existed when the copier joined or last
// reset) moves to cow's holding area on shared storage instead of being
// copied whole into every copier's overlay; it is deleted once the other
// members have reset in turn (HoldResets).
//
// ReplicaEngine is the same engine as a raftcluster/replica adapter (about
// a hundred lines: open, apply a batch with its index, close), which
// passes replicatest.Run; a replica.Replica around it does the catch-up
// and recovery that Engine does by hand. The cluster still runs Engine.
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
// To run members elsewhere, give each node an Engine: its Apply as
// raftcluster.Config.Apply and the Engine itself to the member's
// raftcluster Storage (netstorage.New over stability's gRPC transport).
//
// The caller must:
//
//  1. Route every application command of the log to Engine.Apply (and
//     nothing else: a command Decode refuses is applied as empty and
//     recorded as an error, see Check).
//  2. Read through an engine only at the consistency it gives: Get and
//     Scan reflect the entries that engine applied (level none); wait
//     with Cluster.WaitApplied (or the node's WaitApplied and the
//     engine's Applied) for a later index.
//  3. Treat a Write error wrapping raftcluster.ErrOutcomeUnknown as "may
//     or may not have committed": read back before retrying.
//  4. Close the Cluster (or every Engine) when done.
//
// # Caveats
//
//   - Config.CompactableIndex is not set, so raftcluster keeps
//     hashicorp/raft's snapshot defaults (8192 entries): a copier that
//     resets or joins after the log was compacted past its database's
//     index cannot catch up. Fine for the demo and tests; a long-running
//     deployment must report the writer's durable index there.
//   - Kill closes the engine before the node shuts down, so Pebble on the
//     old writer's view never meets a closed Guard mid-flush.
//   - Every batch is synced on the writer: one fsync per entry. Raft's log
//     already makes it durable, so a deployment could sync at intervals
//     and report the synced index instead.
//
// # Concurrency
//
// Cluster and Engine are safe for concurrent use. An Engine applies
// entries one at a time (Raft's FSM goroutine, or Open's catch-up), and
// its reads run beside them.
package kv
