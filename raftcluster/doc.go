// Package raftcluster replicates a holeycow cluster's membership, writer
// identity and epoch, and the application's own commands, on one
// hashicorp/raft log.
//
// Each member runs a Node. The Raft state machine holds a small State:
// the members (ID, Raft and stability addresses, suffrage, role,
// generation, last reported overlay size, exclusion), the writer's ID and
// epoch, the holder of the single reset slot, and the history of writer
// terms. Application commands travel on the same log: every node hands
// each one, with its log index, to Config.Apply in log order. With
// Config.ApplyBatch instead, runs of consecutive application commands
// arrive in one call, so the application can commit them together (group
// commit: concurrent writers share its fsyncs). Raft snapshots contain
// the State only, never a database.
//
// # Usage
//
//	tr, _ := raftcluster.NewTLSTransport(":7000", "10.0.0.1:7000", tlsConf, 0, logger)
//	n, _ := raftcluster.New(raftcluster.Config{
//		ID: "a", StabilityAddr: "10.0.0.1:7001", Transport: tr, DataDir: dir,
//		Timeouts: raftcluster.LANTimeouts(), Apply: app.Apply, Storage: storage,
//		CompactableIndex: app.DurableIndex,
//	})
//	n.Bootstrap(ctx)                 // on the first member only
//	other.RequestJoin(ctx, "10.0.0.1:7000") // on each new member
//	idx, resp, err := n.Apply(ctx, cmd)     // on the leader
//	view.SetGuard(n.Guard())               // writer fencing for cow
//
// What the caller must do:
//
//  1. Give every member a unique, stable ID, and a TLS config whose
//     certificate names that ID (stability.NodeURI) and whose CA pool is
//     the one the stability layer uses. The TLS transport authenticates
//     every peer as the member its certificate names (see Identity).
//  2. Bootstrap exactly one member, once; every other member joins with
//     RequestJoin (or an operator calls Join on the leader). A member
//     restarted from its DataDir rejoins by itself.
//  3. Run Apply, Barrier and ReadIndex on the leader; on a
//     *NotLeaderError go to LeaderAddr. Treat ErrOutcomeUnknown as "may or
//     may not have committed": read back before retrying a
//     non-idempotent command.
//     For a read that must reflect every write the leader acknowledged
//     (rqlite's weak) on any member, call LeaderCommitIndex (one request
//     to the leader, no quorum round) then WaitApplied; for a
//     linearizable one, ReadIndex on the leader.
//  4. Make ApplyFunc deterministic and idempotent by index: store the
//     applied index with the data, skip indices already applied (after a
//     restart the log is replayed from the last Raft snapshot).
//  5. Set CompactableIndex to the index the shared database has made
//     durable, so Raft never compacts entries that a joining or resetting
//     copier still needs to replay; after reopening on shared storage,
//     catch up with ReadLog from the index stored in the database, and
//     queue the ApplyFunc calls that arrive meanwhile. With it set, logs
//     are compacted eagerly (Config.SnapshotThreshold): set OnRestore
//     too, and when a snapshot is installed past your state (a member
//     whose log fell behind), catch up from shared storage, resetting a
//     copier whose own changes hide it, instead of applying the later
//     entries on top.
//  6. Install Node.Guard as the writer view's cow Guard, and implement
//     Storage (BecomeWriter/BecomeCopier/SetCopiers/Fence/Reset), or use
//     raftcluster/netstorage (over stability's gRPC transport, or over a
//     stabilitytest.Network when every member lives in one process).
//  7. Call Leave before retiring a member for good, then Shutdown.
//  8. After restarting a member from its stores, call CheckMembership: a
//     member removed while it was down hears from nobody. On
//     ErrUnknownMember it must not serve; it may join again only from
//     empty stores.
//  9. Keep a DataDir's LogStore kind: a DataDir created with one kind is
//     refused with the other (ErrLogStoreMismatch).
//
// # Stores
//
// With Config.DataDir a node keeps its Raft state on local disk: the
// stable store (current term, vote) in raft-boltdb/v2's raft.db, file
// snapshots beside it, and the log in hashicorp/raft-wal's segments under
// wal/ (LogStoreWAL, the default) or in raft.db too (LogStoreBolt). An
// append to raft-wal writes the entries and one fdatasync; an append to
// BoltDB copies B+tree pages and the freelist and syncs twice: on this
// project's 2-core machine BenchmarkLogStore measured about 8x fewer
// bytes per entry (4.3 KB against 33.5 KB, one entry per append; 0.42
// against 2.7 KB with 16) and 1.4-9x more appends per second for raft-wal
// (the machine was shared; the byte counts were stable).
//
// The module pins hashicorp/raft v1.7.3, not v1.8.0: raft-boltdb/v2 (on
// go.etcd.io/bbolt, whose unsafe code passes the race detector's checkptr
// checks) builds beside v1.7.x but not v1.8.0, and raft-boltdb v1 (on
// boltdb/bolt) throws under -race as soon as it creates its buckets, even
// as the stable store alone. What v1.8.0 adds (RestoreCommittedLogs with
// a commit-tracking log store, hashicorp/go-metrics' new import path) is
// not used here.
//
// # Writer choice
//
// The writer is the Raft leader, and when the writer fails or leaves, the
// new writer is the live member with the smallest overlay, as the paper
// suggests (its promotion pushes the least data to shared storage):
//
//   - Raft's election is the failure detector: some voter wins leadership.
//   - Before it takes an epoch, the new leader looks for the live voter
//     (not excluded, reachable, overlay reported since it last started
//     from a fresh view: a rejoin, a finished reset or a step-down as
//     writer clears the member's report, and a report made before that
//     entry, delivered after it, is rejected) with the
//     smallest reported overlay, leaving out the old writer. If that is
//     another member, smaller than itself by at least
//     Config.WriterPreferenceMargin (1 MiB) and by a quarter (reports lag
//     the real sizes by up to an eighth), it hands Raft leadership to
//     it (LeadershipTransferToServer), once per term; the candidate, now
//     leader, finds itself the smallest and takes the epoch. If the
//     hand-over fails (the candidate died too), the leader becomes the
//     writer itself after one ElectionTimeout.
//   - The leader commits SetWriter{itself, epoch+1}; the state machine
//     accepts a SetWriter only for exactly the next epoch, so each epoch
//     has exactly one writer on every node. A writer that loses
//     leadership is fenced.
//   - Leave hands leadership to the same smallest-overlay voter first;
//     so does HandOver, which the application calls when this writer
//     cannot do the writer's work (its applies keep failing).
//
// Only voters can lead, so only voters are candidates; with the default
// MaxVoters (5) every member of a cluster of up to five is one. Keeping
// writer = leader needs no second liveness mechanism: a quorum's
// confirmation of the leader (VerifyLeader) is the writer's lease.
//
// # Fencing, leases and the remaining window
//
// Node.Guard (for cow.Options.Guard) passes only while this node is the
// writer of the newest epoch it has applied, Storage.BecomeWriter has
// returned for that epoch, it is the Raft leader, and its writer lease is
// valid. The lease is renewed by raft.VerifyLeader every WriterLease/4,
// on a goroutine of its own (slow leader duties never delay it): a check
// that started at time s and was confirmed by a quorum keeps the
// Guard open until s+WriterLease. A newer epoch can commit only through a
// quorum that has moved to a newer term, so it commits after every
// confirmation of the old leader, i.e. after s. The new writer waits
// WriterLease*(1+MaxDrift) after it applies its epoch before BecomeWriter:
// by then every Guard of the old epoch has closed, if clock rates differ
// by less than MaxDrift. This does not rely on election timeouts, so a
// follower that restarts and votes at once cannot break it.
//
// A Guard check that finds the lease lapsed while this node still leads
// and writes (a slow quorum round on a loaded machine) runs one round
// itself before it answers, so that the mutation waits rather than fails;
// Node.LeaseStats counts these renewals and the refusals.
//
// The window that remains: Guard is checked before a mutation batch, not
// during it. A writer that passes Guard and then stalls (GC pause, SIGSTOP,
// a slow disk or NFS server) for longer than the rest of its lease can
// land its write after the new writer has started. Closing it needs
// fencing at the storage itself: a token the storage checks on every
// write (SCSI-3 persistent reservations on a shared block device, a
// monotonic epoch stamped into and compared by the shared storage server,
// or an NFSv4 lease/lock revoked on failover). Where the storage offers
// none, keep WriterLease well above the longest plausible stall of the
// I/O path and keep batches short.
//
// # Failover timing
//
// hashicorp/raft notices a silent leader between Heartbeat and about
// 3×Heartbeat after its last message, and a voter that still knows a
// leader refuses (pre-)votes, so the first follower to notice often loses
// its campaign and waits an Election timeout more. When the leader's
// process is gone rather than slow (its Raft port refuses connections;
// a stalled process's kernel still accepts them), each follower that has
// not heard from it for Heartbeat/4 finds that out and wakes Raft's
// heartbeat check exactly Heartbeat after the last message
// (ReloadConfig); the survivor the next leader would choose as writer
// waits Heartbeat/4 longer, so that the others have given up the old
// leader by then and it wins at once (leadergone.go). A dead leader is so
// replaced about 1.25 heartbeat timeouts after it died. Where the host is
// down or cut off, nothing refuses, and Raft's own timers act. Timing
// never decides safety: the writer lease and fence delay above do.
//
// # Membership
//
// Members join as Raft non-voters; the leader promotes one at a time to
// voter once it has reported in (it has applied its own join) and is
// reachable, while fewer than MaxVoters (5) voters are live. Reachable
// means observed contact: the leader heard an answer to its
// AppendEntries (heartbeats go out every Heartbeat/10 or so) within
// Heartbeat, or has led for less than Heartbeat (Node.Contacts). It is
// not a mark set by hashicorp/raft's heartbeat-failure observation and
// cleared by its recovery observation: a heartbeat that hung in an
// earlier term fails after the next term began, and the new term's
// heartbeats, succeeding from the start, report no recovery, so such a
// mark stayed forever and a demoted voter was never promoted again
// (TestNode_deadVoter_staleFailureAcrossTerms). Warnings and errors that
// hashicorp/raft logs about one peer (each failed heartbeat, several a
// second) are logged at most once per 10s, with the count left out.
// A voter that the leader has not heard from for DeadVoterAfter (30
// heartbeats) is demoted to non-voter, so
// that quorum counts live members only: after a live non-voter was
// promoted in its place, or while at least min(3, MaxVoters) voters
// remain; it is promoted again once it is back and has reported in.
// Leave removes the member from the State and from Raft.
// Exclude (the stability layer's signal that a copier's lease lapsed; or
// automatically after ExcludeAfter without contact) is recorded in the
// log with its epoch, so every node agrees whom the writer waits for
// (State.Copiers). An excluded member that comes back is told to Reset and
// then Rejoins, which gives it a new generation.
//
// # Identity
//
// With the TLS transport, every connection on the Raft port is
// authenticated as the member its certificate names (URI SAN
// holeycow://node/ID): a certificate of the cluster's CA that names no
// member cannot connect (an application's client certificate does not
// make a member); a request forwarded to the leader (join, leave,
// overlay report, reset done, rejoin, membership check) must be about
// the member the caller's certificate names, or it fails with
// ErrIdentity; and the leader refuses a Raft connection to an address
// of its configuration whose certificate names another member, so a
// member added at an impostor's address receives nothing. Adding and
// removing other members is an operator's act: Join and Remove on the
// leader, which the application authorizes (the sqlcluster HTTP API
// does it with its credentials). The in-process transport of
// clustertest.RaftNetwork authenticates nothing.
// A forward connection is authenticated once and then carries further
// requests of the same member (TLSLimits.ForwardIdle): each request is
// checked against the certificate of its connection as before.
//
// The Raft port can carry the stability protocol too, so that a node needs
// one port for both (serve it with stability.GRPCServer.Serve on
// TLSTransport.StabilityListener, and advertise the Raft address as
// Config.StabilityAddr): a connection that starts with
// stability.MuxPreamble goes, before any TLS, to the stability server,
// which runs its own mutual TLS and identity checks.
//
// # Garbage collection
//
// Members report their overlay size through the log when it changes by
// more than 1/8 (and 1 MiB) or crosses the reset threshold
// (ResetThreshold, or ResetAt's, which may follow the size of the data),
// at most every ReportInterval. The leader
// grants the single reset slot to the live copier with the largest overlay
// at or above the threshold, so copiers reset one at a time and the others
// serve meanwhile; that copier's Storage.Reset runs (close
// engine, reset through the writer's handshake, reopen, catch up) and the
// node reports ResetDone, which frees the slot and bumps the copier's
// generation.
//
// # Observing
//
// Subscribe returns a Subscription with its own channel of typed Events
// (WriterChanged, MemberJoined, MemberLeft, MemberExcluded,
// MemberRejoined, MemberPromoted, MemberDemoted, ResetStarted,
// ResetDone). The current state comes first, marked Initial. A full
// channel drops the event and counts it (Dropped); Raft is never blocked.
//
// # Caveats
//
//   - raft-wal preallocates each 64 MiB log segment: a DataDir's size
//     says nothing about how many bytes the log holds.
//   - raft-wal must be v0.4.1 or later: v0.4.0 left a segment sealed
//     without its index when a follower dropped its uncommitted tail (a
//     leader killed and restarted, then rejoined), and the next start
//     panicked (hashicorp/raft-wal#31; TestLogStore_reopenAfterTailDelete).
//   - hashicorp/raft works inside a testing/synctest bubble with the
//     in-memory transport (its timers and goroutines all live in the
//     bubble and Shutdown joins them), so clustertest-based tests run on
//     logical time. The TLS transport needs real sockets and real time;
//     a few failover tests also run on real time to let the scheduler and
//     the race detector interleave Raft's goroutines for real.
//   - Demotion never takes the voters below min(3, MaxVoters): of three
//     voters, a dead one stays a voter until an operator removes it
//     (Remove) or a non-voter can replace it.
//   - State.History keeps the last 1024 writer terms.
//
// # Concurrency
//
// Node's methods are safe for concurrent use. ApplyFunc and
// ApplyBatchFunc run on Raft's FSM goroutine and must not call back into
// the Node's Raft operations.
// Storage methods are called from one goroutine, never concurrently.
// Subscriptions are safe for concurrent use.
package raftcluster
