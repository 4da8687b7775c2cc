// Package sqlnode is the SQL engine layer of the sqlcluster example: one
// node's SQLite database, fed with replicated log entries in log order. It
// knows nothing of Raft: the raft layer hands it (index, command) pairs
// from its application callback, and asks it for reads and checksums.
//
// # Usage
//
// On the node that accepts a client's write, turn the request into a log
// command; on every node, apply the committed entries:
//
//	cmd, err := sqlnode.Prepare(sqlnode.Request{Statements: []sqlnode.Statement{
//		{SQL: "INSERT INTO t(v, at) VALUES(?, datetime('now'))", Params: []sqlnode.Param{{Value: "x"}}},
//	}}, sqlnode.Env{})
//	// ... append cmd to the log; once committed, on every node:
//	n, err := sqlnode.Open(sqlnode.Options{VFS: "node1", Path: "main.db"})
//	resp, err := n.Apply(index, cmd)        // or ApplyBatch(entries)
//	results, err := n.Query(ctx, stmts)     // local read
//
// Prepare rewrites what is not deterministic into literals (random(),
// randomblob(N), 'now' and omitted time values in the date and time
// functions, CURRENT_TIMESTAMP/DATE/TIME) and rejects, with an error
// wrapping ErrRejected that says why, what cannot be made deterministic.
// Its tokenizer skips string literals, quoted identifiers, blob literals and
// comments, so that 'random()' in a string stays as it is.
//
// Apply runs each entry in a savepoint inside a transaction that also
// stores the entry's index in the table _holeycow_applied. A failing
// statement rolls back its request's statements only: SQL errors are
// results (Response, Result), the same on every node; the index advances
// anyway. ApplyBatch does a batch of entries in one transaction (group
// commit: hashicorp/raft's BatchingFSM hands such batches).
//
// The caller must:
//
//  1. Call Prepare (or Rewrite) on the accepting node, before the log, and
//     put exactly its bytes in the log, so that every node applies the same
//     SQL.
//  2. After Open, replay the log from AppliedIndex()+1. Entries at or below
//     the stored index are skipped, so replaying from earlier is harmless.
//  3. Apply entries in log order, from one goroutine at a time, and treat an
//     error from Apply or ApplyBatch (it wraps ErrApply: I/O, corruption, a
//     lock held too long by a reader) as fatal to this node's state machine:
//     retry the same entries or stop; never skip them.
//  4. Compact the log only up to the index that Flush returned, unless
//     SyncsEveryCommit(opts) (a rollback journal with synchronous=FULL)
//     makes every commit durable.
//  5. With WAL (the default) and without ExclusiveLocking, open the
//     database on a VFS with shared memory for the WAL index: on
//     examples/sqlitevfs, a registration WithSharedMemory(dir) with dir
//     node-local.
//  6. Compare Checksums across nodes only at equal Index.
//  7. Close the *sql.DB from ReadOnlyDB before closing the Node.
//  8. Bound reads that strangers send: Query enforces the ResultLimits of
//     its context (WithResultLimits), which nothing sets by default. For
//     writes, set Request.Limits on the accepting node (zero fields take
//     DefaultApplyLimits).
//  9. Give every node the same Options.MaxSteps (and the same SQLite):
//     the bound is part of what a request's result is.
//  10. To stop a node whose apply may be running a long request, call
//     Interrupt (Close does) rather than wait for the apply lock.
//
// # Durability
//
// The database file on shared storage is the only copy of the data; the log
// can replay what a crash lost after the stored applied index.
//
// The default, WAL with synchronous=NORMAL, makes the log the per-commit
// durability point: a commit appends to the WAL and syncs nothing; the WAL
// is synced before each checkpoint, the database after it, and Flush
// commits with a sync. A crash (mid-apply, mid-checkpoint, mid-WAL-restart)
// leaves a committed prefix at or after Flush's last index, which the log
// replays forward (TestNode_crashSweep crashes at every write and sync).
// Checkpoints run off the apply path by default: a goroutine checkpoints
// on a connection of its own once a commit takes the WAL past
// WALAutoCheckpoint, and holds the applier only for a short second pass
// over what was committed meanwhile (checkpoint.go, CheckpointStats);
// CheckpointInApply restores SQLite's checkpoint inside the crossing
// commit (BenchmarkNode_ApplyCheckpointLatency compares the two).
// Readers run beside the applier, each in its own snapshot, through the
// shared-memory WAL index. Use it when the log keeps every entry after
// Flush's index (the cluster compacts only up to the durable index).
//
// TRUNCATE with synchronous=FULL makes each commit durable by itself
// (about four syncs per commit, ApplyBatch divides that by the batch size)
// and needs no shared memory; readers and the applier exclude each other
// (a long read holds the applier back). Use it when the database must be
// current after a crash without the log, or on a VFS without shared
// memory. WAL with ExclusiveLocking needs no shared memory either, but
// nothing can read next to the applier. NORMAL with a rollback journal and
// OFF are refused: a resurrected journal can be rolled back partially
// (the crash test finds this). BenchmarkNode_ApplyBatch compares them.
//
// # Node-local failures and deterministic limits
//
// An error of the storage (SQLITE_FULL from a full disk, IOERR, CORRUPT,
// READONLY, CANTOPEN, BUSY or LOCKED past the busy timeout, ...) is never
// a result: ApplyBatch fails with ErrApply and leaves the entries
// unapplied. The code is read with errors.As, since ncruces returns bare
// result codes as well as *sqlite3.Error; on examples/sqlitevfs a statement
// during which the storage failed counts as such whatever its code, and
// the storage's error is attached (errors.Is finds ENOSPC, or a fencing
// refusal). SQLITE_FULL that SQLite raises by itself (an AUTOINCREMENT
// counter out of rowids) stays a result there. Query, Checksum, Check and
// ReadOnlyDB's connections attach the storage's error the same way to a
// read that fails with such a code: a copier view whose lease lapsed
// refuses reads with cow.ErrInvalidated, and errors.Is finds it behind
// SQLite's "disk I/O error". An integrity check (PRAGMA integrity_check,
// quick_check) during which the storage failed reports the pages it could
// not read as rows, as if the database were corrupt: Query returns the
// storage's error instead, and ReadOnlyDB's rows end with it.
//
// Two limits make requests that would otherwise diverge or never end fail
// alike everywhere, as their result:
//
//   - Options.MaxSteps bounds each request's work in SQLite VM steps,
//     counted through the connection's progress checks (ErrStepLimit).
//     Precheck lets the accepting node refuse, before the log, read-only
//     statements that run past it.
//   - The largest rowid, 9223372036854775807, is refused (ErrMaxRowid):
//     with it taken, SQLite picks the next rowids from its random number
//     generator, which ncruces/go-sqlite3 v0.37.0 seeds from crypto/rand
//     for every VFS, so no VFS can make it the same on every node. The
//     apply connection's update hook sees every row written, by triggers
//     too, in the middle of a statement, and stops the statement at the
//     first row that gets the largest rowid or enters a table holding it
//     (one written before this check existed), before a random rowid can
//     matter: refused alike on every node, however the statement hides
//     the row again.
//   - Request.Limits bound the rows that a request's SELECT and RETURNING
//     statements return during apply (ErrResultTooLarge): the node that
//     accepts the request puts its bounds in the log entry, and every node
//     enforces those, whatever its own configuration (entries written
//     before they existed get DefaultApplyLimits).
//
// # Caveats
//
//   - A time function whose time value comes from a column or an expression
//     that evaluates to 'now' at apply time is not detected; neither is
//     'now' hidden in a view or trigger created before this package. The
//     apply connection's authorizer refuses random(), randomblob(),
//     total_changes(), transaction control, ATTACH/DETACH, PRAGMAs other
//     than user_version and application_id, and writes to _holeycow_*
//     tables, so that a command that bypassed Prepare fails the same way
//     everywhere (with SQLite's "not authorized").
//   - Anything non-deterministic inside CREATE or ALTER is rejected, even
//     CREATE TABLE ... AS SELECT random(), where a rewrite would have been
//     correct.
//   - Rowids of tables without an INTEGER PRIMARY KEY are part of the
//     checksum: SQLite's VACUUM keeps them in practice, and SQL can see them.
//   - With a rollback journal, a long read holds the applier back (up to a
//     10 s busy timeout, then ApplyBatch fails with ErrApply). With WAL a
//     long read only holds back checkpoints (the WAL grows meanwhile).
//   - The step count depends on the query plan: nodes must have the same
//     schema and statistics (they do: both are replicated), and run the
//     same SQLite.
//   - The apply connection keeps prepared the statements it runs again
//     (its own, and requests' INSERT, UPDATE, DELETE and SELECT by text;
//     never DDL or pragmas): SQLite prepares a kept statement again when
//     the schema or the statistics change, so it plans and answers as a
//     fresh one would (see applyStmts).
//
// # Concurrency
//
// A Node is safe for concurrent use. Apply, ApplyBatch and Flush serialize;
// Query, Checksum and the ReadOnlyDB handle use separate read-only
// connections (the apply connection, serialized, with ExclusiveLocking);
// AppliedIndex and WaitApplied never block on apply.
package sqlnode
