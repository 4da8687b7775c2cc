// Package server is the server mode of the sqlcluster example: one
// process runs one node of a replicated SQLite database on shared
// storage (cluster.Node over raftcluster and raftcluster/netstorage),
// serves the rqlite-compatible HTTP API (httpapi) on it, exports
// Prometheus metrics at /metrics and shuts down gracefully on SIGINT or
// SIGTERM. "sqlcluster serve" is Main.
//
// # Usage
//
// Three nodes on one machine, sharing the directory sh:
//
//	sqlcluster serve -id n1 -data d1 -shared sh -raft-addr 127.0.0.1:4002 -http-addr 127.0.0.1:4001
//	sqlcluster serve -id n2 -data d2 -shared sh -raft-addr 127.0.0.1:4012 -http-addr 127.0.0.1:4011 -join http://127.0.0.1:4001
//	sqlcluster serve -id n3 -data d3 -shared sh -raft-addr 127.0.0.1:4022 -http-addr 127.0.0.1:4021 -join http://127.0.0.1:4001
//	curl -XPOST 127.0.0.1:4011/db/execute -d '["CREATE TABLE t(v)", "INSERT INTO t VALUES(1)"]'
//	curl '127.0.0.1:4021/db/query?q=SELECT+*+FROM+t&level=linearizable'
//
// From Go: cfg, err := server.Parse(args, os.Stderr); err = server.Run(ctx, cfg).
//
// Directories: -data holds the node's Raft state (raft/: raft.db, the
// stable store; wal/, the log with -log-store wal, the default, or raft.db
// with -log-store bolt; snapshots; sqlite-index/, the node-local WAL index
// of its view of the database) and its copier overlay scratch (scratch/,
// emptied at start); -sqlite-mode wal (the default) runs the shared
// database in WAL mode with synchronous=NORMAL, -sqlite-mode truncate with
// a TRUNCATE journal and FULL (see package cluster for when);
// -copier-mode refresh makes the node, while a copier, follow the writer
// by refreshes (every -refresh-lag, and for weak and linearizable reads)
// instead of applying every write (cluster.CopierRefresh); -shared
// holds the database (db/main.db, opened through vfs.OS) and cluster/:
// the member directory (members/ID.json: each node's HTTP, Raft and
// stability addresses, written at start) and, without TLS flags, the
// automatic CA (ca.pem). A node needs two ports, as rqlite: HTTP and Raft;
// the Raft port carries the stability protocol too (each connection keeps
// its own mutual TLS; raftcluster.TLSTransport.StabilityListener), unless
// -stability-addr gives it a port of its own.
//
// Shared storage check: before anything else starts, a node runs the
// one-mount coherence self-check of -shared (vfs/sharedcheck.SelfCheck:
// on a GlusterFS mount, its client's mount options and caching
// translators; read-after-write between file descriptors) and exits 1
// with ErrSharedIncoherent, naming the options that fix each finding,
// when it fails; -shared-skip-check starts anyway with a warning. On a
// network or FUSE mount every open of a -shared file drops its cached
// pages (vfs.OSOptions.DropCacheOnOpen), so that a copier reads shared
// storage past its kernel cache after a reset, restart or promotion;
// -shared-drop-cache drops them before every read as well.
//
// Start-up: a node whose -data holds Raft state restarts as the member it
// was (no bootstrap, no join): it catches up from the log and, as a
// copier, joins the writer afresh (its overlay is gone). It first asks the
// leader whether it is still a member (up to -join-timeout; if no leader
// answers, as when the whole cluster restarts, it goes on as the member it
// was). If the cluster removed it meanwhile, it exits 1 saying so, or,
// started with -join, discards its Raft state and joins again as a new
// member. A
// node without state and without -join bootstraps a new cluster; with
// -join it POSTs {"id", "addr", "api_addr", "stability_addr"} to URL/join (httpapi forwards
// it to the leader), retrying with backoff (0.1s doubling to 2s) through
// the listed URLs until -join-timeout.
//
// Timeouts: -raft-timeout (a follower's heartbeat timeout), -raft-
// election-timeout, -raft-leader-lease-timeout (a leader that hears from
// no quorum for this long steps down; at most -raft-timeout) and
// -writer-lease default to raftcluster.LANTimeouts. Failover after a
// writer dies takes about 1.5-2 times -raft-timeout; a machine whose load
// stalls a process for longer than the leader lease sees spurious
// step-downs (a burst of 503s, and 500s saying "outcome unknown" for the
// writes in flight). Raise the leader lease with -raft-timeout on such a
// machine: failover gets slower by as much (see raftcluster.LANTimeouts
// for figures from TestServe_availability).
//
// Shutdown: SIGINT or SIGTERM stops HTTP, then the node, then the
// stability endpoint; the node stays a member and restarts from -data.
// With -leave it first leaves the cluster (a writer hands its role to the
// member with the smallest overlay), then removes its Raft state: use it
// to decommission a node; -data can then only join anew.
//
// Endpoints: httpapi's (/db/execute, /db/query, /db/request, /status,
// /nodes, /readyz, /join, /remove, /metrics); with -debug also
// GET /debug/checksum?index=N, the logical checksum of the node's
// database at log index N (409 if it already applied a later write), and
// Go's profiles under /debug/pprof/ (net/http/pprof: e.g.
// "go tool pprof http://HOST/debug/pprof/profile?seconds=10").
//
// A hidden flag, left out of -h, serves benchmarks only:
// -bench-noop-apply applies every write as a no-op
// (cluster.Node.SetNoopApply): writes go through the HTTP API, the Raft
// log and transport and the apply callback but never reach SQLite, which
// measures the ceiling of the path around the database (examples/bench's
// raft_ceiling_ratio_*). Give it to every node of a throwaway cluster.
//
// Metrics (besides httpapi's holeycow_http_* and the Go and process
// collectors), read from cluster.Node.Stats, the raftcluster state and
// netstorage.Storage.Stats at each scrape: holeycow_raft_applied_index,
// _raft_commit_index, _raft_first_index (the log kept: applied minus
// first), _replication_lag_entries (commit minus applied),
// _db_applied_index, _durable_index, _is_leader, _is_writer,
// _writer_epoch, _writer_changes_total (failovers and other leadership
// moves), _members, _members_excluded, _overlay_bytes,
// _copier_resets_total, _db_reopens_total, _promotions_total,
// _fresh_writer_views_total, _stability_resets_total,
// _stability_joins_total, _exclusions_total (by this node as writer),
// _stability_rounds_total, _stability_round_regions_total,
// _stability_messages_total, _stability_heartbeats_total,
// _stability_round_seconds{quantile="0.5"|"0.99"},
// _stability_lease_lapses_total, _stability_preserved_regions_total,
// _stability_stale_epoch_total, _writer_lease_guard_renewals_total,
// _writer_lease_guard_refusals_total. The connection caps of the HTTP and
// Raft listeners: holeycow_conns_open, _conns_evicted_total and
// _conns_rejected_total, each with listener="http"|"raft".
//
// Logs: log/slog text records on stderr at -log-level; hashicorp/raft's
// hclog goes through raftcluster's adapter into the same logger.
//
// # Security
//
// Raft and the stability protocol always run over mutual TLS 1.3; the
// node's identity is its certificate's URI SAN holeycow://node/ID
// (stability.NodeURI), which must match -id.
//
// With -tls-cert, -tls-key and -tls-ca the operator's certificates are
// used for Raft, stability and HTTPS (and the CA to verify the leader when
// forwarding and joining). -auth turns on HTTP basic authentication with
// an rqlite-format credentials file and requires TLS. Members present
// their certificate to each other's HTTP API (verified against the CA):
// it grants the "join" and "remove" permissions for the member it names
// only, so a member joins (and leaves) as itself with no password, and
// "*" need not be allowed to join; a certificate that names no member (an
// application's) gets 403 for /join and /remove, as does a member's for
// another member. Adding or removing another member takes an operator: a
// user of the credentials file with "join" or "remove". On the Raft port
// every request is bound to the caller's certificate the same way (see
// raftcluster, Identity). Without -auth the HTTP API is open to whoever
// reaches it, /join and /remove included; the Raft port still delivers
// the log only to certificates that name the member the leader expects
// at an address.
//
// A node counts as restarted when -data holds raft/raft.db and the marker
// file "member", written once it bootstrapped or joined. Raft state
// without the marker (the node was killed during its first join) is
// removed at start and the node bootstraps or joins afresh.
//
// Without TLS flags (local use) the first node creates a per-cluster CA in
// -shared/cluster/ca.pem, private key included, and every node mints its
// own certificate from it at start; HTTP is plaintext. The trade-off:
// anyone who can read the shared directory can mint a member certificate
// and join Raft or the stability protocol, so the automatic CA protects
// against nothing that access to the shared storage does not already give.
// It is for demos and tests on one machine, not for a network shared with
// others. The alternative, plaintext Raft and stability, is not offered:
// neither raftcluster nor stability has a plaintext transport, and the
// stability protocol needs authenticated node IDs.
//
// Every listener is bounded (README "Security" lists the defaults): the
// HTTP API by read-header, read, write and idle timeouts and a connection
// cap (-http-*), the Raft and stability ports by a handshake timeout and a
// connection cap (-handshake-timeout, -raft-max-conns,
// -stability-max-conns; stability also by -stability-max-streams and
// -stability-idle-timeout), and requests by -max-result-rows,
// -max-result-bytes and -max-statements. At a cap, a new connection
// closes the oldest idle or unauthenticated one.
//
// Queued writes (?queue) are batched as rqlite does: -write-queue-batch-size
// requests (128) or -write-queue-timeout (50ms) per batch, one log entry
// each, at most -write-queue-capacity (1024) waiting; failed queued
// requests are logged and counted (holeycow_http_queue_errors_total). At
// shutdown the node executes the queued writes still waiting.
//
// The caller (operator) must:
//
//  1. Give every node a unique, stable -id and its own -data; give all the
//     same -shared (one directory, or a shared mount with read-after-write
//     coherence across hosts).
//  2. Start exactly one node without -join (the first, once); start the
//     others with -join naming running members.
//  3. Restart a node with its own -data to bring the same member back; to
//     retire a node for good, stop it with -leave set, or DELETE /remove
//     it.
//  4. Give -raft-addr, -http-addr and -stability-addr addresses other
//     nodes can reach (they are advertised as given), and keep them when
//     the node restarts (the replicated state records them).
//  5. Use the same -stability-lease, -max-steps, -sqlite-mode,
//     -raft-timeout, -raft-election-timeout, -raft-leader-lease-timeout
//     and -writer-lease on every node.
//  6. Outside a single machine, bring certificates (-tls-*) rather than
//     the automatic CA.
//
// # Caveats
//
//   - cluster.Backend.Join records a member joined over HTTP without its
//     stability address (httpapi's JoinRequest has no field for it); the
//     node finds it in the member directory instead. Likewise the HTTP API
//     addresses of other members (for forwarding and /nodes) come from the
//     member directory, as the replicated state does not hold them.
//   - The copier overlay lives in -data/scratch and is dropped at every
//     start: a restarted copier always rejoins the writer afresh. Its
//     files go when the overlay does (reset, promotion, a role change,
//     shutdown), and a file truncated to nothing (the journal, after each
//     transaction) gives its space back, so scratch holds the live
//     overlay only.
//   - -mutation-log records a mutation before attempting it, with the
//     node's writer epoch at that time (netstorage's WriterEpoch, which
//     turns non-zero only once BecomeWriter returned: a promotion's own
//     writes are recorded with epoch 0). It is a debugging aid and costs a
//     write system call per mutation.
//   - The multi-process tests need Linux (they read /proc to see that a
//     process is stopped).
//
// # Concurrency
//
// Run serves until its context is done; Parse and Main have no shared
// state. Within Run, the HTTP server calls the node concurrently (every
// cluster.Node and httpapi method is safe for concurrent use); the metrics
// collector, the member directory and the mutation log are safe for
// concurrent use.
package server
