// Package holeycow turns shared-nothing storage engines into a
// shared-storage database cluster.
//
// # The idea
//
// A replicated database normally keeps one full copy of its data per node.
// holeycow keeps one copy in all, on storage that every node mounts, while
// each node still runs an ordinary, unmodified engine that believes it owns
// its files. The trick is a copy-on-write layer under the engine with one
// twist: one node, the writer, is allowed to skip copy-on-write and update
// shared storage in place. Every other node, a copier, sends its own writes
// to a small local volatile overlay and reads its overlay first, then shared
// storage.
//
// For that to be safe, a copier must never observe the writer's changes: it
// has to keep seeing shared storage as it was when it joined, plus its own
// writes. So before the writer first overwrites a region of shared storage,
// every copier preserves that region's old content in its overlay and
// acknowledges (the stability protocol). Each region needs this once per
// copier generation, so at steady state the writer commits with no network
// round at all. Copiers ignore sync: their overlay is volatile, and
// replication, not the overlay, makes their state durable.
//
// Overlays only grow. A copier is garbage collected by closing its engine,
// dropping its overlay and reopening on shared storage as it is now: the
// engine's own crash recovery and the replication log's catch-up do the
// rest. When the writer fails, a copier is promoted: it pushes its overlay
// to shared storage through the same stability rounds, syncs, and drops the
// overlay.
//
// The technique comes from "Holey COW: shared-storage database clusters from
// shared-nothing servers" (see ../shared/seed in the project workspace).
//
// # Architecture
//
// The packages depend on each other in one direction:
//
//		vfs ← cow ← stability ← raftcluster ← examples
//
//	  - vfs: the FS and File interfaces that engines and layers speak, with
//	    OS and memory implementations, fault injection (vfs/errorfs) and a
//	    conformance suite (vfs/vfstest).
//	  - cow: the writer and copier views over one shared FS. cow knows nothing
//	    of networks; it asks a Stabilizer to make regions stable.
//	  - stability: the protocol that carries stability rounds, resets, epochs
//	    and leases between processes, over mutual TLS. It knows nothing of
//	    Raft: it is told the epoch and who the copiers are.
//	  - raftcluster: membership, writer identity and epoch, replicated with
//	    hashicorp/raft, plus the application's own commands on the same log.
//	  - examples: engine adapters (examples/sqlitevfs for SQLite) and programs
//	    (examples/sqlcluster, a replicated SQL database).
//
// # Reading the source
//
// Start with vfs/vfs.go (the two interfaces), then cow/api.go (regions and
// the Stabilizer), cow/writer.go and cow/copier.go (the two views). Then
// stability's doc.go, raftcluster's doc.go and raftcluster/netstorage's
// doc.go (the one Storage: cow views driven by the node's roles, the
// stability protocol over gRPC or, in one process, an in-memory network).
// examples/sqlcluster shows the whole thing end to end
// (examples/sqlcluster/cluster/localcluster starts a cluster in one
// process).
//
// To add an engine, read raftcluster/replica's doc.go and one adapter (the
// smallest is raftcluster/replica/example_engine_test.go, a file-backed
// map; examples/sqlcluster/cluster/engine.go is SQLite's), write yours and
// run replicatest.Run on it.
package holeycow
