// Package cluster is the library of the sqlcluster example: a replicated
// SQL database whose data exists once, on shared storage. Each member is a
// raftcluster.Node plus one SQLite database (examples/sqlitevfs) opened on
// the member's cow view: the writer's view is the shared database itself,
// a copier's keeps what it changes in a local overlay. Every member
// applies every write, in log order, to its own view.
//
// The database is run by a raftcluster/replica Replica (catch-up,
// recovery after a failed apply, publication to readers, group commit,
// durable markers, promotion checks); engine.go is the SQL adapter on it
// (Execute's results, checksums at an index, refresh mode), and passes
// replicatest.Run in both journal modes.
//
// # Usage
//
//	c, _ := localcluster.Start(ctx, localcluster.Options{Nodes: 3}) // in-process members (cluster/localcluster)
//	r, _ := c.Execute(ctx, sqlnode.Request{Statements: []sqlnode.Statement{
//		{SQL: "INSERT INTO t(v) VALUES(?)", Params: []sqlnode.Param{{Value: "x"}}}}})
//	rs, _ := c.Nodes()[1].Query(ctx, cluster.LevelLinearizable, stmts)
//	db := c.Nodes()[2].ReadOnlyDB()  // database/sql, reads only
//
// A member of a cluster built by hand:
//
//	n, _ := cluster.New(cluster.Config{ID: "a", Transport: tlsTransport,
//		DataDir: dir, Storage: storageFunc})
//	n.Bootstrap(ctx)           // first member; the others: n.Join(ctx, leaderRaftAddr)
//	resp, err := n.Execute(ctx, req) // on the leader
//
// What the caller must do:
//
//  1. Give every member a StorageFunc over the same shared directory
//     (mounted with read-after-write coherence): Networked (stability over
//     gRPC with mutual TLS, certificates naming each member's ID) for
//     members in several processes or hosts, localcluster.InProcess for
//     members of one process, every member's made with the same
//     localcluster.InProcessOptions.Network (or a StorageFunc of its own
//     over raftcluster/netstorage, whose stability endpoint
//     ServeStability serves).
//  2. Bootstrap one member once; every other member Joins. A joining
//     member copies no database: it opens the shared one and replays the
//     log after the index stored in it.
//  3. Send writes to the leader (Execute returns a
//     *raftcluster.NotLeaderError naming it elsewhere). Treat an error
//     wrapping raftcluster.ErrOutcomeUnknown as "may have committed":
//     read back before retrying a write that is not idempotent.
//  4. Read at the level needed: LevelNone (local, possibly stale),
//     LevelWeak (waits for the leader's commit index, asked over the
//     Raft port; through the HTTP API a follower far behind or not
//     ready forwards the read to the leader instead),
//     LevelLinearizable (read index from the leader; set
//     Config.LeaderReadIndex for followers). The writer's database is
//     shared storage itself: it serves reads only while its writer Guard
//     passes, checked before and after each Query (a deposed writer
//     answers ErrNotReady, go to another member). ReadOnlyDB checks it
//     when each statement or transaction starts, not while its rows
//     stream: on the writer, prefer Query for long reads.
//  5. Compare ChecksumAt of several members only at the same index.
//  6. Close members (Close, or Leave then Close) before exiting.
//  7. Give every member the same Config.MaxSteps, JournalMode,
//     Synchronous and ResetThreshold.
//  8. In WAL mode (the default), give each member an IndexDir (or a
//     DataDir) on node-local storage that can map shared memory, never on
//     shared storage: each member's view of the WAL is its own.
//
// # Writes
//
// Execute runs sqlnode.Prepare on the accepting member (random(),
// 'now' and the like become literals; what cannot be made deterministic is
// rejected), appends the command to the Raft log, and returns once a
// quorum holds it and the leader has applied it. Every member applies it
// in one SQLite transaction that also records the log index; all of a
// request's statements commit or none do. SQL errors are results, the
// same on every member.
//
// # Durability, and what a crash costs
//
// A write is acknowledged once the Raft log holds it on a quorum. The
// writer's SQLite file on shared storage is the one physical copy of the
// data. By default (Config.JournalMode "WAL", Synchronous "NORMAL") the
// Raft log is the per-commit durability point: a commit appends to the
// WAL and syncs nothing; the WAL is synced before each checkpoint and the
// database after it. The WAL index lives in node-local shared memory
// (Config.IndexDir, examples/sqlitevfs' WithSharedMemory), so readers and
// database/sql run beside the applier on every member; the index is
// dropped whenever the member's view changes (reset, promotion,
// reopening). The writer flushes (one synced commit) before it records a
// durable marker in the log (every DurableInterval), and Raft compacts the
// log only up to the last marker. A crash of the writer then loses at most
// the commits since the last sync, never an acknowledged write: the next
// writer opens the committed prefix that SQLite's WAL recovery finds and
// replays the log after the stored applied index (sqlnode's
// TestNode_crashSweep crashes at every write and sync).
//
// Checkpoints and copier overlays: a copier applies into its overlay, so
// its WAL and what its checkpoints copy into the database land there, and
// its view starts, after each reset, with the writer's WAL as shared
// storage holds it. Every view therefore checkpoints at a quarter of
// ResetThreshold (256 pages for the 4 MiB default; at most SQLite's 1000):
// after a reset a copier's overlay holds at most about half the threshold,
// and grows by the distinct pages it checkpoints, as with a rollback
// journal (TestLocal_ResetPolicy_boundedStaggered; with SQLite's 1000
// pages one checkpoint brought the overlay to the size of a small
// database at once).
//
// Config.JournalMode "TRUNCATE" with Synchronous "FULL" syncs each commit
// of the database before the writer answers (about four syncs per commit,
// divided by the batch size of a group commit), so the database is current
// after a crash without the log, and needs no shared memory; but readers
// and the applier exclude each other (a long read holds the applier back),
// and each commit writes its pages twice (journal and database). Use it
// when the database file must be current by itself after a crash (it is
// copied or read outside the cluster), or when the storage under the
// index directory cannot map shared memory. Use the default otherwise. A
// crash of the writer in TRUNCATE mode costs no acknowledged write and no
// database state: at worst the transaction in flight rolls back from the
// journal, and the next writer replays it from the log after the stored
// applied index. NORMAL with a rollback journal is refused: it can
// corrupt the database in a crash (sqlnode's crash test found it).
//
// Group commit: Raft batches the log appends of concurrent writers, and
// hands the entries that commit together to every member in one call
// (raftcluster.Config.ApplyBatch); the member applies each run of
// consecutive SQL entries in one SQLite transaction, each entry in a
// savepoint of its own (one entry's SQL error rolls back that entry only)
// and its index recorded in the same transaction, so the database syncs once
// per run, not once per entry. Each Execute still gets its own entry's
// result. If the run's transaction fails (I/O), none of it is applied and
// the reopening's catch-up replays it, as for a single entry.
// Node.SetGroupCommit(false) applies one entry per transaction (the
// baseline examples/bench compares against).
//
// The writer records in the log, every Config.DurableInterval, how far
// the shared database is durable ("durable markers"). Every member's
// CompactableIndex follows these markers, so no member compacts an entry
// that the shared database has not durably applied, and a Raft snapshot
// holds the cluster state only, never a database. Compaction is eager by
// default (raftcluster.DefaultSnapshotThreshold and friends; the leader
// also snapshots just before it adds a member): a joining member, or one
// that comes back after its log fell behind the leader's, receives the
// cluster state and the short tail after it, and opens the shared
// database. If its own database was open and behind the snapshot (a
// copier cut off for a while), it reopens; a copier whose overlay hides
// the entries it missed finds the gap in its log and asks for a reset.
// Such a copier view is never promoted: if the member becomes the writer
// before it resets, the view is invalidated and the Storage opens a
// fresh writer view on shared storage as the previous writer left it
// (which reflects every compacted entry), and the database catches up
// from the index stored there. (Promoting it would turn shared storage
// back into its older database, undoing acknowledged writes.)
//
// # Garbage collection
//
// A copier's overlay keeps every page its engine wrote since it last
// started afresh, so it tends towards a copy of the database. Each member
// reports its overlay size; once it reaches max(Config.ResetThreshold,
// Config.ResetFraction × the database's size) (4 MiB and an eighth by
// default) it reports at once and the leader grants it the cluster's
// single reset slot: copiers reset one at a time. Reads on the resetting
// copier wait until it has reopened and caught up; the writer and the
// other copiers serve as usual.
//
// # Copier modes
//
// Config.CopierMode says how a copier follows the writer (serve's
// -copier-mode). CopierReplay, the default, is the paper's way, described
// above. CopierRefresh applies nothing as entries commit: the copier's
// database is a snapshot of shared storage at one log index, and it moves
// forward by a refresh (a reset: the writer's handshake, the database
// reopened on shared storage as it is, the entries past its stored index
// replayed) once an entry it has not applied is Config.RefreshLag old, and
// on demand before a read at LevelWeak or LevelLinearizable. Every read
// sees the state at one log index; a database/sql transaction open across
// a refresh keeps its state (the refresh waits for it, up to 5 s). Its
// overlay holds only pre-images of what the writer changed since the
// last refresh, and the copier spends no apply work per write; reads at
// LevelNone lag by up to RefreshLag, and each refresh makes the writer
// stabilize its regions again. Promotion from refresh mode drops the copier
// view for a writer view on shared storage (after the old writer's lease
// has run out, as always) and replays the tail. A refresh-mode copier's
// Raft log compacts past its database (compaction follows the writer's
// durable markers), so a copier whose engine was left closed on its old
// view (a refresh that failed) and that then becomes the copier of a new
// writer cannot catch up from its log: it resets through the new writer
// instead (TestLocal_Refresh_becomeCopierBehindCompactedLog). Members may
// differ in mode. Node.Refresh refreshes now; Node.RefreshStats counts
// refreshes.
//
// # When apply fails, or would not end
//
// An entry that fails to apply on a member because of its storage (a full
// disk, an I/O error, a fencing refusal, an invalidated copier view) is
// never recorded as the entry's result: sqlnode leaves it unapplied, the
// member withdraws its database (reads answer ErrNotReady) and reopens
// and replays every 500 ms until that works; meanwhile a writer whose
// storage is full or failing refuses new writes before the log
// (ErrNotReady, 503: nothing committed).
// Stats().Apply, Backend.Ready
// (/readyz) and Backend.Status (/status, "apply") say that it fails, since
// when, and why (FailureKind); the server exports it as metrics. A writer
// whose applies fail with an I/O error HandOverAfter times in a row hands
// leadership over (raftcluster.Node.HandOver, which, like a failover,
// leaves the old writer out of the choice) once per 30 s at most; a
// writer whose shared storage is full keeps its role and says so, since
// every writer would fail alike. A fencing refusal is reported as one (an error
// wrapping raftcluster.ErrFenced, 503 over HTTP, an Info log line), not
// as an I/O error.
//
// Every request's apply is bounded by Config.MaxSteps SQLite VM steps, the
// same on every member: past it the request fails, as its result, alike
// everywhere. The leader runs the read-only statements at the start of a
// request under the same bound before appending it (sqlnode.Precheck) and
// refuses those that pass it (sqlnode.ErrRejected, 400 over HTTP). Close
// interrupts an apply in progress.
//
// # Catch-up
//
// After a copier reset (garbage collection, RequestReset), a failover (the
// deposed writer reopens as a copier), or a join, the member opens the
// database from shared storage, reads the stored applied index and
// replays the log after it (raftcluster.Node.ReadLog), holding off the
// live entries meanwhile. Reads wait until it is done.
//
// # Caveats
//
//   - Storage is one seam (StorageFunc): Networked runs
//     raftcluster/netstorage, the stability protocol over gRPC with
//     mutual TLS; localcluster.InProcess runs the same netstorage over an
//     in-memory network (one per in-process cluster), so both share one
//     role state machine. This package imports neither
//     raftcluster/clustertest nor stability/stabilitytest: the
//     in-process harness (localcluster.Cluster) is a package of its own.
//   - In-process members have the stability lease of networked ones
//     (localcluster.Options.Lease): the writer's mutations wait up to
//     about a lease for a killed copier before it is excluded.
//   - Group commit only shares a commit between requests that Raft
//     commits together (concurrent writers); a lone client still waits
//     for one sync per request: put several statements in one request to
//     share a commit.
//   - A copier compacts its Raft log only when a durable marker covers
//     its applied index, i.e. after a quiet moment; under sustained load
//     its log grows until then. The leader (the writer) compacts
//     throughout, and joins and restarts are served by it.
//   - A member that missed entries behind a snapshot while its database
//     was open on a copier view with changes of its own must reset
//     (0.5-1 s) before it serves reads again.
//   - Execute's result is kept in process memory by the leader's apply;
//     if the leader's database was reopening when the entry applied, the
//     write is durable but Execute reports ErrOutcomeUnknown.
//   - An entry that fails to apply (shared storage refused a write, or the
//     writer's lease lapsed under load) withdraws the database; a
//     background loop reopens it on the same view and replays the log,
//     every 500 ms until that succeeds, whether or not more entries come.
//   - The pre-check of a read-only statement runs it a second time, on
//     the leader (up to the step bound; closing the database interrupts
//     it).
//
// # Concurrency
//
// Node and Backend are safe for concurrent use. The application
// callback (a batch of entries at a time) runs on Raft's FSM goroutine; Open/Close of the database (from
// the Storage), the recovery loop's reopenings and checksums at an index
// serialize with it; reads run concurrently with everything and wait
// while the database reopens.
package cluster
