// Package httpapi is the HTTP API of the sqlcluster example, compatible
// with rqlite's (rqlite.io/docs/api) for everything that the
// github.com/rqlite/gorqlite client uses. It knows nothing of Raft: it
// serves a Backend, which the replicated node implements (and Standalone, over
// one sqlnode.Node, for a single node and for tests).
//
// # Usage
//
//	srv, err := httpapi.New(httpapi.Config{Backend: node, Credentials: creds, Logger: logger})
//	node.Registry = srv.Registry()          // or pass Config.Registry
//	err = http.ListenAndServe(addr, srv)
//
// Endpoints:
//
//	POST /db/execute   writes through the log
//	GET  /db/query?q=  one read;  POST /db/query  reads
//	POST /db/request   reads and writes mixed
//	GET  /status       node and leader (rqlite's layout: store.leader.node_id, ...)
//	GET  /nodes        voters keyed by ID, with api_addr, reachable (?ver=2: a list; ?nonvoters: all members)
//	GET  /readyz       200 "[+]node ok ..." or 503 (?noleader: the node only; ?sync: caught up with the leader)
//	POST /join         {"id", "addr", "api_addr", "voter"}
//	DELETE /remove     {"id"}
//	GET  /metrics      Prometheus
//	GET  /db/backup    the SQLite file (?fmt=sql a dump, ?compress gzip, ?vacuum; Backuper)
//	POST /db/load      a SQLite file or SQL dump replaces the database, through the log
//	GET  /debug/vars   expvar's layout (cmdline, memstats) with the node's counters and gauges
//
// Every answer carries the server's version in X-RQLITE-VERSION
// (Config.Version); /status has it in "build". Requests are logged at
// Debug (a client error at Warn, a server error at Error; a 503 from
// /readyz is an answer, logged at Debug).
//
// Bodies of the /db endpoints are rqlite's: a JSON array of statements,
// each "SQL" or ["SQL", positional params...] or ["SQL", {named params}]
// (see DecodeStatements). Answers are {"results": [...]} with, per
// statement, columns, types, values (or with ?associative, types and rows
// keyed by column), last_insert_id, rows_affected, error, time. The URL
// flags are rqlite's: pretty, timings, transaction, associative, level,
// freshness (a Go duration) and freshness_strict, timeout (a Go
// duration), raft_index, redirect, queue and wait.
//
// # Read consistency levels
//
// What each ?level guarantees, on whichever node serves the read (see
// Level for how):
//
//   - none: nothing; the node's database as it is. With ?freshness=d a
//     follower refuses (503 "stale read") unless it heard from the leader
//     within d; with freshness_strict also unless it applied what the
//     leader had committed then. The leader always serves.
//   - weak (the default, also of /db/request): every write the leader
//     acknowledged before the read arrived, through any node. The serving
//     node asks the leader for its commit index (one small request, no
//     quorum) and reads locally once it applied it. A follower forwards
//     the read to the leader instead (or redirects it, with ?redirect;
//     not with DisableForwarding nor a request forwarded already, where
//     it waits: see CanForward) when that is cheaper than waiting: at
//     once if its database is not ready (a copier resetting or catching
//     up) or if it is more than cluster.WeakReadMaxLag (1000) entries
//     behind the leader's commit index, and after cluster.WeakReadMaxWait
//     (100ms) if it has not applied it by then (a slow or paused apply).
//     The leader always serves. Exception, as in rqlite: a leader deposed without knowing
//     it yet (at most an election timeout) answers for itself.
//   - linearizable and strong: every write acknowledged before the read
//     began, by any leader (quorum-confirmed read index).
//   - auto: none on a non-voter, weak on a voter.
//
// Status codes: an SQL error is a result, with 200, as in rqlite. A
// request that cannot be decoded (malformed JSON, wrong types, an empty
// list, an unknown level or flag value) gets 400, a body over
// Config.MaxBodyBytes 413, a request that sqlnode.Prepare rejects
// (non-deterministic SQL it cannot rewrite, transaction control) 400; all
// with a JSON body {"error": "..."}. Backend errors map as Backend
// documents: 503 for no leader (with "leader" in the body), 504 for a
// timeout. Values that would be stored changed are refused with 400: text
// that is not UTF-8 (or escapes an unpaired surrogate), integers beyond
// int64. Error texts reach clients without file paths (a 500 without
// details); the log has them whole.
//
// # Limits
//
// Config.Limits bounds each request: a read whose result exceeds
// MaxResultRows or MaxResultBytes fails with 400 and no rows (the rows are
// counted as SQLite steps, before they take memory), and so does, with an
// error Result and rolled back, a write whose SELECT or RETURNING returns
// more (the leader's limits, enforced by every node); a request with more
// than MaxStatements statements gets 413. Responses of the /db endpoints
// are streamed (but with ?pretty), not built whole in memory. A request
// without ?transaction that nears its timeout starts no further statement
// and answers which statements committed ("not executed" for the others);
// a forwarding node gives the leader a tenth less time than it waits
// itself (TimeoutHeader), so that this answer gets back in time.
// ApplyConnLimits sets an http.Server's timeouts and caps its connections
// (ConnLimits). A request that fails authentication gets its connection
// closed.
//
// A node that is not the leader forwards what needs the leader (writes,
// reads above level none, join, remove) to the leader's HTTP address, as
// rqlite does by default: an HTTP reverse proxy that copies the leader's
// answer back, with ForwardedHeader set so that a forwarded request is
// never forwarded twice. gorqlite sends to the leader it discovered
// through /status and /nodes, and tries the other nodes when it fails; it
// does not follow redirects of POST requests (Go's client turns a 301 into
// a GET without a body), which is why forwarding is the default. With
// ?redirect a client gets rqlite's 301 to the leader instead.
//
// Credentials (see Credentials): a user's permissions, "*"'s for
// everyone, and Config.PeerPerms for a client whose certificate the TLS
// server verified. /join and /remove act on one member: a client that
// holds their permission through a user ("*" included; or with no
// Credentials at all) is an operator and may act on any member; one that
// holds it through PeerPerms only may act on the member its certificate
// names (stability.NodeURI) and no other (403, ErrForbidden). Such a
// member's own request is not forwarded by a follower (the leader would
// see the follower's certificate): it gets 503 with the leader's URL.
//
// /nodes reports what the Backend observed (NodeInfo.Reachable). As in
// rqlite it lists voters only unless ?nonvoters; members it leaves out
// are counted in the header X-Holeycow-Hidden-Nonvoters and, with
// ?ver=2, in "hidden_nonvoters", so that a demoted voter does not simply
// vanish.
//
// The caller must:
//
//  1. Implement Backend as documented there: return *NotLeaderError with
//     the leader's HTTP base URL when not the leader, and SQL errors as
//     results, not errors.
//  2. Report in NodeInfo.APIAddr a URL ("http://host:port") that clients
//     can reach: gorqlite connects to the leader it finds in /nodes.
//  3. Keep Config.MaxBodyBytes below sqlnode.MaxCommandSize.
//  4. Serve over TLS when Credentials are set: basic authentication
//     sends passwords in the clear.
//  5. Register its own metrics on Server.Registry (or Config.Registry),
//     under names other than holeycow_http_*.
//  6. Serve through ApplyConnLimits (or set equivalent timeouts on its
//     http.Server): without them net/http keeps idle connections forever.
//
// # Caveats
//
//   - Without ?transaction, as in rqlite, each statement of /db/execute
//     stands alone: a failing one does not stop or undo the others. Here
//     each is its own log entry (sqlnode applies a request all or
//     nothing), so other writes can come between them. gorqlite sends
//     ?transaction by default. If the Backend fails after some statements
//     committed, the rest get an error result ("not executed", or
//     "outcome unknown" for the one whose outcome the error leaves open)
//     and the status stays 200, so that a retry does not repeat the
//     committed ones.
//   - Result limits bound reads (/db/query, and /db/request while it
//     reads) and the rows that SELECT and RETURNING return through the
//     log (/db/execute, /db/request, ?queue): the leader writes its
//     limits into the log entry and every node stops at them when it
//     applies the entry, so that the request fails alike everywhere: 200
//     with an error Result saying "result too large", the request rolled
//     back (rqlite has no such bound).
//   - /db/request first runs the statements as a read; if any fails
//     (because it writes, or for any SQL error, which could hide a later
//     write) the whole request goes through the log instead. A failing
//     read through /db/request thus costs a log entry.
//   - ?queue: the leader queues the request (a follower forwards it) and
//     answers at once with a sequence number (per leader, increasing;
//     not a log index) and no results. Queued requests are executed in
//     batches (Config.QueueBatchSize, QueueTimeout): one Backend.Execute,
//     one log entry, per batch. A batch in which a statement fails is
//     rolled back whole and run again request by request, so that a bad
//     request fails alone; its error is logged and counted
//     (holeycow_http_queue_errors_total). ?wait answers once the
//     request's batch applied, with its results. Queued writes not yet
//     executed are lost if the leader fails, as in rqlite; Server.Close
//     executes those still waiting.
//   - Infinite floats are sent as the strings "Inf" and "-Inf" (JSON has
//     no infinities); blobs as base64, as rqlite does.
//   - rqlite's bcrypt password hashes, ?blob_array, /boot and the
//     error_v2 field are not supported.
//   - /db/backup is taken on the node that receives it, at ?level (weak
//     by default), from one read transaction: while the copy runs that
//     node's own apply waits (SQLite's rollback journal), not the
//     cluster's writes unless it is the writer; ask a follower. A SQL dump
//     carries every row's rowid, so that a load reproduces the checksum.
//     /db/load replaces the whole database (drops every table and view,
//     then recreates from the input) in one log entry, so it is bounded
//     by Config.MaxBodyBytes and by sqlnode.MaxCommandSize; a load over
//     either is refused with 400. Virtual tables are not dumped (400). Unknown
//     URL parameters are ignored, as rqlite does.
//
// # Concurrency
//
// A Server is safe for concurrent use and keeps no per-request state; it
// calls the Backend concurrently. Standalone serializes its writes. Credentials
// are immutable once loaded.
package httpapi
