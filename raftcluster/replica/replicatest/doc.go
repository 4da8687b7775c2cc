// Package replicatest is a conformance suite for replica engine adapters,
// the way vfstest serves file systems: Run checks, on any
// replica.Engine, what the replica package requires of an engine
// (deterministic apply, the applied index stored atomically with the
// batch, crash recovery to a committed prefix), driving it through a
// replica.Replica and an in-memory Log.
//
// Cases:
//
//   - apply: commands applied through a Replica, in batches of every
//     size, interleaved with durable markers and foreign entries, give
//     the state that applying them one by one gives;
//   - crash: after every Sync and SyncDir of the engine, the power-loss
//     states of the view (vfs.MemFS.CrashClone, nothing and half of the
//     unsynced changes kept) reopen at some stored index k with exactly
//     the state at k, and catch up to the end; after DurableIndex, k is
//     the last index;
//   - failedApply: a batch whose writes fail leaves nothing behind: the
//     replica withdraws the database, reopens it and catches up;
//   - reset: the replica closes mid-stream and reopens on a copy of the
//     storage, catching up from its stored index;
//   - resetDuringApply: while another goroutine applies, the replica
//     reopens on copies of its view taken at any moment, mid-apply
//     included (some with half the unsynced changes lost);
//   - promotion: the writer crashes; a member that followed on its own
//     copy reopens on what the writer left, catches up and carries on
//     as the writer;
//   - catchUp: a replica opened late catches up from the log, also when
//     the log was compacted up to the stored index.
//
// An adapter that breaks atomicity (stores the index apart from the
// data) or determinism fails it.
//
// What the caller must do:
//
//  1. Give Subject a Command whose effect is not idempotent (applying it
//     twice differs from once: a counter, an append), or the suite
//     cannot see a batch applied twice.
//  2. Make State return the database's logical content, the same bytes
//     for the same content whatever the history.
//  3. Open every file on the view given to Engine.Open (the suite crashes
//     that view and nothing else).
//
// Concurrency: Run and the Log are for one test goroutine each; a Log is
// safe for concurrent use by one Replica and the test.
package replicatest
