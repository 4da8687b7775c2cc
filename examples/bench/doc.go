// Command bench measures what holeycow buys, side by side with a baseline
// measured in the same run, on the same machine and disk, with the same
// SQLite settings: sqlitevfs's defaults (TRUNCATE journal,
// synchronous=FULL) where SQLite runs on a view directly, the cluster's
// default (WAL journal, synchronous=NORMAL) in the cluster and server
// figures. Every figure is a ratio or a count against that baseline;
// absolute times on shared machines mean little.
//
// # Usage
//
//	go run ./examples/bench            # full run (at most ~10 minutes)
//	go run ./examples/bench -quick     # within ~60 s on 2 cores
//	go run ./examples/bench -json      # table, then one JSON object on the last line
//	go run ./examples/bench -markdown  # a "Performance" table for the README
//	go run ./examples/bench -cpuprofile cpu.out
//	go run ./examples/bench -figs 1,2  # only some figures (2 needs 1)
//	go run ./examples/bench -quick -figs 10 -serve-profiles prof  # server mode only, with CPU profiles
//	go run ./examples/bench -figs 10 -sqlite-mode wal  # serve processes in another -sqlite-mode
//	go run -tags nocluster ./examples/bench  # leave out figures 5-10 and the Raft half of 3
//
// Progress goes to stderr; the table (and JSON) to stdout.
//
// # Figures
//
// Each figure lives in its own file (fig1_writer.go ... fig9_group.go) on a
// shared harness (harness.go, nodes.go, countfs.go, certs.go, cluster.go;
// report.go prints):
//
//  1. Writer commits/s over holeycow with 0, 1 and 3 copiers behind
//     loopback TCP (stability's gRPC transport with mutual TLS, cow views,
//     SQLite through sqlitevfs) ÷ plain SQLite through sqlitevfs over
//     vfs.OS, at steady state and at first touch of every page.
//  2. Copier point-select reads/s ÷ plain SQLite.
//  3. Bytes written and fsync calls reaching the database's persistent
//     storage: 3-node holeycow vs one plain node and vs three plain nodes
//     (shared-nothing), counted by a wrapper around the FS
//     (fig3_storage.go); Raft log bytes per write and the total write
//     amplification on the replicated SQL cluster (fig3_raft.go).
//  4. Copier overlay bytes ÷ database size under a TPC-C-like mix.
//  5. to 8. Failover, join cost, replication lag and GC cost on the
//     replicated SQL cluster (examples/sqlcluster/cluster/localcluster:
//     every member in this process, Raft over loopback TCP with mutual
//     TLS through counting proxies, BoltDB logs, LAN timeouts).
//  9. Group commit: acknowledged single-row inserts/s from 16 concurrent
//     clients to a 3-member cluster, every member applying the entries
//     Raft commits together in one transaction ÷ one entry per
//     transaction (Node.SetGroupCommit(false)), interleaved rounds on the
//     same cluster.
//  10. Server mode (fig10_server.go, serve.go): the sqlcluster binary,
//     built once, runs as 3 "serve" processes on loopback sharing one
//     directory, driven through the HTTP API by one keep-alive client
//     (net/http, connections kept): sequential single-statement inserts
//     of 100 B to the leader, batches of 100 in a transaction, 16
//     concurrent requests, and point reads at level=none on a follower.
//     raft_ceiling_ratio_*: writes/s ÷ a second cluster of 3 processes
//     started with the hidden "serve -bench-noop-apply" (same HTTP path,
//     Raft transport and log store; the apply skips SQLite), in
//     interleaved rounds. Bytes are the kernel's write_bytes and CPU is
//     utime+stime (/proc/PID/io and /proc/PID/stat) of the three
//     processes over the load; stability rounds are the writer's
//     holeycow_stability_rounds_total over the load ÷ write requests.
//     failed_requests_c16_60s counts requests answered with a status
//     other than 200 or an error result, or lost, in 60 s of the c16
//     load; serve_failover_ms_* SIGKILLs the leader and times until a
//     write is accepted through a survivor (the killed node then
//     restarts from its -data). With -serve-profiles DIR, each load runs
//     once more while every process's CPU profile is fetched from its
//     /debug/pprof/profile (serve -debug). At -quick each load is a
//     single 2 s round: on a shared 2-core machine raft_ceiling_ratio_*
//     varies by ±40% from run to run, so compare two trees over ≥10
//     alternating runs or at full scale.
//  11. Copier modes (fig11_refresh.go): in-process clusters with replay
//     copiers (every copier applies every entry into its overlay) and
//     refresh copiers (Config.CopierMode = CopierRefresh: they apply
//     nothing and move forward by refreshes): copier overlay ÷ database,
//     CPU per write on a copier ÷ on the writer (an upper bound: all
//     members share one process), refresh time, lag to visibility at
//     level none, weak reads on a copier, and failover, per mode.
//  12. Copier modes as users run them (fig12_modes.go): 3 serve
//     processes per mode: bytes on disk of the -data and -shared
//     directories (allocated blocks) ÷ the logical database after the
//     66k-insert workload and after a further 100 MiB load (quick: 5k
//     inserts, 16 MiB), once the cluster reports the database durable;
//     utime+stime of each copier process ÷ the writer process's under
//     16 concurrent inserts (idle CPU subtracted per process); sequential
//     inserts/s with copiers in the mode ÷ refresh copiers that never
//     refresh (-refresh-lag 1h), interleaved (with -serve-profiles DIR,
//     the baseline's and the refresh cluster's processes are profiled
//     under one more round, as steady-SETUP-NODE-ROLE.pprof). In process (localcluster
//     counts the bytes between members, in-process stability): bytes
//     moved while a copier killed before 10k inserts (quick: 2k)
//     restarts.
//  13. LSM engines (fig13_lsm.go): Pebble (examples/pebblevfs) and
//     goleveldb (examples/leveldbstore), unmodified, with a 256 KiB
//     memtable so that flushes and compactions run. Writer ratios: Set
//     (Put) with Sync of 100 B per second on a writer view over a
//     directory with 2 copiers behind loopback gRPC (joined once the
//     preloaded database is flushed) ÷ the same engine on plain files
//     through its own OS code, in interleaved rounds (the engine through
//     its adapter on plain files runs in the same rounds and is printed
//     apart: writer ÷ adapter is cow's share); stability rounds per
//     1,000 of those writes. pebble_overlay_fraction: a copier
//     joins a Pebble database of 100k random writes (quick: 20k) on
//     in-memory shared storage, as many writes again follow, then its
//     overlay ÷ the database directory's size; shared storage outside
//     that directory (a holding area, if cow keeps removed files in one)
//     is printed apart. pebble_overlay_fraction_held: the same with
//     cow.Options.HoldRemoved (zero-copy removes and renames: removed
//     tables wait in the holding area, which the copier reads, instead of
//     its overlay; renamed files are followed, not copied).
//     The copiers run no engine here: their overlays hold only what they
//     preserved.
//
// A figure that could not be measured is printed as "not measured:
// <reason>" and is null in the JSON; no number is ever made up.
//
// The caller must:
//
//  1. Run it on an otherwise quiet machine when the numbers matter; the
//     figures interleave baseline and holeycow rounds and report medians,
//     which tolerates drift but not a neighbour saturating the disk.
//  2. Give it a temporary directory on the disk to be measured (-dir;
//     default os.TempDir()).
//
// # Caveats
//
//   - Copiers run in the same process as the writer and reach it over
//     loopback TCP with mutual TLS. In figure 1 they apply each timed chunk
//     of statements right after it, untimed: on two shared cores, applying
//     concurrently would measure CPU contention between engines that a real
//     deployment runs on separate machines, not the protocol's cost. The
//     stability rounds themselves (the copiers' Preserve) run during the
//     timed chunk, as they must.
//   - Copier overlays live in memory (cow.NewMemStore), the paper's RAM
//     disk, so a copier spills nothing to persistent storage.
//   - Figure 4 runs on an in-memory shared FS: overlay growth depends on the
//     pages the workload touches, not on the disk. The copier's overlay
//     holds the old content it preserved and every page its own engine
//     wrote (appends included), so it tends to the database's size.
//   - The cluster does not let a caller wrap its shared FS, so the
//     database's share of the write amplification is counted on a side
//     run of the same engine (sqlnode) with the same commands; the Raft
//     share is the growth of the members' BoltDB files.
//   - Built with -race, the cluster keeps Raft logs in memory, so the
//     Raft figures are not measured then; figure 10 neither.
//   - The kernel's write_bytes counts what a process dirties in the page
//     cache, at the page cache's granularity: on kernels whose ext4 uses
//     large folios (6.1x; this machine's 6.18), dirtying one byte of a
//     folio counts the whole folio, up to 2 MiB, and a file read with
//     readahead or written in large chunks gets large folios. Measured
//     here: 4 KiB pwrite + fsync on a 1 MiB file counts 1 MiB; on a 4 MiB
//     file, 2 MiB. bytes_per_* and write_amplification_3n are therefore
//     an upper bound of what reaches the disk, which grows with the size
//     of the files rewritten in place (the shared database, the journal,
//     overlays); a figure taken on another kernel is not comparable.
//     Run as root, the bench therefore gives each serve cluster an ext4
//     file system of its own on a loop device (-blockdev auto, the
//     default) and counts what that device receives, syncfs before each
//     reading: data, metadata and ext4's journal, what the disk gets.
//     write_bytes stays in the notes; -blockdev off uses it alone.
//
// # Concurrency
//
// The program runs one figure at a time; inside a figure, the nodes of a
// group run on their own goroutines where noted.
package main
