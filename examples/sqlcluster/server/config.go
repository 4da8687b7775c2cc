package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/stability"
)

// Defaults of the flags, for one node on this machine.
const (
	DefaultID       = "n1"
	DefaultRaftAddr = "127.0.0.1:4002"
	DefaultHTTPAddr = "127.0.0.1:4001"
	// DefaultJoinTimeout bounds joining the cluster through -join.
	DefaultJoinTimeout = 60 * time.Second
	// DefaultShutdownTimeout bounds the graceful shutdown.
	DefaultShutdownTimeout = 10 * time.Second
)

// Config is a parsed command line: everything Run needs to start a node.
// Paths are absolute and addresses validated once Parse returns it.
type Config struct {
	ID            string
	DataDir       string   // -data: Raft state (raft/) and overlay scratch (scratch/)
	SharedDir     string   // -shared: shared storage (db/ holds the database; cluster/ the auto CA and member directory)
	RaftAddr      string   // host:port, routable
	HTTPAddr      string   // host:port
	StabilityAddr string   // host:port; RaftAddr (the default): the Raft port carries the stability protocol too
	Join          []string // base URLs of members to join through ("" = bootstrap)
	JoinTimeout   time.Duration

	// TLS: all three files or none. Without them, Raft and stability use
	// certificates of an automatic CA kept in SharedDir/cluster (see doc.go)
	// and HTTP is plaintext.
	TLSCert, TLSKey, TLSCA string

	AuthFile string // -auth: httpapi credentials file
	LogLevel slog.Level

	StabilityLease time.Duration            // -stability-lease (0: netstorage's default)
	LogStore       raftcluster.LogStoreKind // -log-store: wal (default) or bolt
	// SQLiteMode (-sqlite-mode): "wal" (WAL, synchronous=NORMAL: the
	// Raft log is the per-commit durability point; the default) or
	// "truncate" (TRUNCATE, synchronous=FULL: every commit synced).
	SQLiteMode string
	// CopierMode (-copier-mode): how copiers follow the writer, "replay"
	// or "refresh" (cluster.CopierMode); RefreshLag (-refresh-lag) bounds
	// a refreshing copier's lag (0: cluster.DefaultRefreshLag).
	CopierMode      cluster.CopierMode
	RefreshLag      time.Duration
	ShutdownTimeout time.Duration
	MaxSteps        int64 // -max-steps: cluster.Config.MaxSteps

	// Timeouts of Raft and the writer lease: -raft-timeout (Heartbeat),
	// -raft-election-timeout, -raft-leader-lease-timeout, -writer-lease;
	// the rest raftcluster.LANTimeouts'. Parse starts from LANTimeouts.
	Timeouts raftcluster.Timeouts

	// Limits of work and connections; zero fields take the packages'
	// defaults, negative ones mean no bound (see their flags).
	HTTPConns      httpapi.ConnLimits    // -http-*-timeout, -http-max-conns
	Requests       httpapi.Limits        // -max-result-rows, -max-result-bytes, -max-statements
	RaftConns      raftcluster.TLSLimits // -handshake-timeout, -raft-max-conns
	StabilityConns stability.GRPCLimits  // -handshake-timeout, -stability-max-conns, -stability-max-streams, -stability-idle-timeout

	// Queued writes (?queue): -write-queue-batch-size, -write-queue-timeout,
	// -write-queue-capacity (rqlite's flags; 0: httpapi's defaults).
	QueueBatchSize, QueueCapacity int
	QueueTimeout                  time.Duration

	// Debugging and testing.
	MutationLog string // -mutation-log: append every shared-storage mutation, with its epoch
	// SharedDropCache: -shared-drop-cache, read shared storage past the
	// kernel page cache (vfs.OSOptions.DropCache).
	SharedDropCache bool
	// SharedSkipCheck: -shared-skip-check, start without the coherence
	// self-check of -shared (a warning is logged).
	SharedSkipCheck bool
	Debug           bool // -debug: serve /debug/checksum and /debug/pprof/
	// BenchNoopApply (-bench-noop-apply, hidden): apply every write as a
	// no-op, to measure the path around the database (examples/bench).
	BenchNoopApply bool
	// LeaveOnExit (-leave): on shutdown, leave the cluster first (a writer
	// hands its role to the member with the smallest overlay) and remove
	// this node's Raft state, so that -data can only join anew.
	LeaveOnExit bool

	// LogOutput receives the logs (nil: stderr); not a flag.
	LogOutput io.Writer
}

// TLS reports whether certificates were given on the command line.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// APIAddr is the node's HTTP API base URL as other nodes and clients
// reach it.
func (c *Config) APIAddr() string {
	if c.TLS() {
		return "https://" + c.HTTPAddr
	}
	return "http://" + c.HTTPAddr
}

// Parse parses the arguments of the serve subcommand (without "serve").
// Usage and errors go to out. It returns an error wrapping ErrUsage for a
// malformed or inconsistent command line (flag.ErrHelp for -h). It creates
// -data and -shared if they are missing (their parents must exist).
func Parse(args []string, out io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sqlcluster serve [flags]\n\n"+
			"Runs one node of a replicated SQLite cluster on shared storage, with an\n"+
			"rqlite-compatible HTTP API and Prometheus metrics at /metrics.\n\n"+
			"  sqlcluster serve -id n1 -data d1 -shared sh\n"+
			"  sqlcluster serve -id n2 -data d2 -shared sh -raft-addr 127.0.0.1:4012 -http-addr 127.0.0.1:4011 -join http://127.0.0.1:4001\n\n")
		printVisibleDefaults(fs, out)
	}
	var join, logLevel, logStore string
	var handshake time.Duration
	var maxStreams uint
	fs.StringVar(&c.ID, "id", DefaultID, "node `ID`: unique and stable; with TLS, the ID in the certificate's URI SAN holeycow://node/ID")
	fs.StringVar(&c.DataDir, "data", "", "node-local `dir` for Raft state and overlay scratch (default sqlcluster-ID); reuse it to restart the same member")
	fs.StringVar(&c.SharedDir, "shared", "sqlcluster-shared", "shared storage `dir`, the same for every node (a shared mount with read-after-write coherence)")
	fs.StringVar(&c.RaftAddr, "raft-addr", DefaultRaftAddr, "Raft `host:port` (bound and advertised: not 0.0.0.0)")
	fs.StringVar(&c.HTTPAddr, "http-addr", DefaultHTTPAddr, "HTTP API `host:port` (bound and advertised)")
	fs.StringVar(&c.StabilityAddr, "stability-addr", "", "stability protocol `host:port` of its own (default: the Raft port carries it)")
	fs.StringVar(&join, "join", "", "comma-separated HTTP `URLs` of members to join through (none: bootstrap a new cluster); ignored when -data holds Raft state")
	fs.DurationVar(&c.JoinTimeout, "join-timeout", DefaultJoinTimeout, "give up joining after this `duration`")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate `file` of this node (server and client auth; names the node in a URI SAN)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM CA `file` that signs every member's certificate")
	fs.StringVar(&c.AuthFile, "auth", "", "rqlite-format credentials `file` for HTTP basic authentication (needs TLS)")
	fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.DurationVar(&c.StabilityLease, "stability-lease", 0, "copier lease of the stability protocol (default 2s); the same on every node")
	c.Timeouts = raftcluster.LANTimeouts()
	fs.DurationVar(&c.Timeouts.Heartbeat, "raft-timeout", c.Timeouts.Heartbeat, "Raft heartbeat timeout: a follower that hears nothing from the leader for this long (to twice it) starts an election; failover takes about 1.5-2 times it")
	fs.DurationVar(&c.Timeouts.Election, "raft-election-timeout", c.Timeouts.Election, "Raft election timeout of a candidate")
	fs.DurationVar(&c.Timeouts.LeaderLease, "raft-leader-lease-timeout", c.Timeouts.LeaderLease, "a leader that hears from no quorum for this long steps down (at most -raft-timeout); raise both on a machine whose load stalls processes for longer")
	fs.DurationVar(&c.Timeouts.WriterLease, "writer-lease", c.Timeouts.WriterLease, "writer fencing lease: a new writer waits this long (plus drift) before it mutates shared storage; the same on every node")
	fs.StringVar(&logStore, "log-store", string(raftcluster.LogStoreWAL), "Raft log store in -data: wal (hashicorp/raft-wal) or bolt (raft-boltdb); a -data keeps the kind it was created with")
	copierMode := fs.String("copier-mode", cluster.DefaultCopierMode.String(), "how copiers follow the writer: replay (apply every write into the local overlay) or refresh (re-base on shared storage when lagging or for a weak/linearizable read)")
	fs.DurationVar(&c.RefreshLag, "refresh-lag", cluster.DefaultRefreshLag, "refresh mode: a copier refreshes once a write it has not applied is this old")
	fs.StringVar(&c.SQLiteMode, "sqlite-mode", "wal", "shared database's journal: wal (WAL, synchronous=NORMAL: the Raft log is the per-commit durability point; readers beside the applier) or truncate (TRUNCATE, synchronous=FULL: every commit synced, the database current without the log)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "bound on the graceful shutdown")
	fs.Int64Var(&c.MaxSteps, "max-steps", 0, "bound on one write request's work in SQLite VM `steps`: past it the request fails, alike on every node (0: 200 million; negative: none); the same on every node")
	fs.BoolVar(&c.SharedDropCache, "shared-drop-cache", false, "drop the kernel's cached pages of -shared before each read (posix_fadvise): for mounts whose page caches are not coherent between hosts (GlusterFS without direct-io-mode=enable); run check-shared")
	fs.BoolVar(&c.SharedSkipCheck, "shared-skip-check", false, "start without the coherence self-check of -shared (which refuses a mount whose client caches can serve stale pages, naming the options that fix it); logs a warning")
	fs.StringVar(&c.MutationLog, "mutation-log", "", "debug: append every mutation of shared storage, with its epoch, to `file`")
	fs.BoolVar(&c.LeaveOnExit, "leave", false, "on SIGINT/SIGTERM, leave the cluster before stopping (decommission); without it the node stays a member and restarts from -data")
	// Limits (README "Security").
	fs.DurationVar(&c.HTTPConns.ReadHeaderTimeout, "http-read-header-timeout", httpapi.DefaultReadHeaderTimeout, "HTTP: bound on reading a request's header and the TLS handshake")
	fs.DurationVar(&c.HTTPConns.ReadTimeout, "http-read-timeout", httpapi.DefaultReadTimeout, "HTTP: bound on reading a whole request")
	fs.DurationVar(&c.HTTPConns.WriteTimeout, "http-write-timeout", httpapi.DefaultWriteTimeout, "HTTP: bound on serving a request and writing its response (a request with ?timeout gets that plus 30s)")
	fs.DurationVar(&c.HTTPConns.IdleTimeout, "http-idle-timeout", httpapi.DefaultIdleTimeout, "HTTP: close keep-alive connections idle this long")
	fs.IntVar(&c.HTTPConns.MaxConns, "http-max-conns", httpapi.DefaultMaxConns, "HTTP: cap on open connections; at the cap a new one closes the longest idle (negative: no cap)")
	fs.Int64Var(&c.Requests.MaxResultRows, "max-result-rows", httpapi.DefaultMaxResultRows, "rows one read may return; beyond, it fails with 400 (negative: no bound)")
	fs.Int64Var(&c.Requests.MaxResultBytes, "max-result-bytes", httpapi.DefaultMaxResultBytes, "approximate bytes one read may return; beyond, it fails with 400 (negative: no bound)")
	fs.IntVar(&c.Requests.MaxStatements, "max-statements", httpapi.DefaultMaxStatements, "statements in one request; beyond, 413 (negative: no bound)")
	fs.IntVar(&c.QueueBatchSize, "write-queue-batch-size", httpapi.DefaultQueueBatchSize, "queued writes (?queue): requests per batch (one log entry)")
	fs.DurationVar(&c.QueueTimeout, "write-queue-timeout", httpapi.DefaultQueueTimeout, "queued writes: execute a batch this long after its first request even if not full")
	fs.IntVar(&c.QueueCapacity, "write-queue-capacity", httpapi.DefaultQueueCapacity, "queued writes: requests waiting at most; a full queue holds the next back")
	fs.DurationVar(&handshake, "handshake-timeout", 0, "Raft and stability: close a connection that has not completed its TLS handshake within this `duration` (default 10s on Raft, 5s on stability)")
	fs.IntVar(&c.RaftConns.MaxConns, "raft-max-conns", raftcluster.DefaultMaxConns, "Raft port: cap on open connections; at the cap a new one closes the oldest unauthenticated one (negative: no cap)")
	fs.IntVar(&c.StabilityConns.MaxConns, "stability-max-conns", stability.DefaultMaxConns, "stability port: cap on open connections, as -raft-max-conns")
	fs.UintVar(&maxStreams, "stability-max-streams", stability.DefaultMaxConcurrentStreams, "stability port: RPCs in flight on one connection")
	fs.DurationVar(&c.StabilityConns.IdleTimeout, "stability-idle-timeout", stability.DefaultIdleTimeout, "stability port: close connections without RPCs for this long (negative: never)")
	fs.BoolVar(&c.Debug, "debug", false, "debug: serve GET /debug/checksum?index=N (the database's logical checksum) and /debug/pprof/ (Go profiles)")
	addHiddenFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, fmt.Errorf("%w: -log-level %q: want debug, info, warn or error", ErrUsage, logLevel)
	}
	kind, err := raftcluster.ParseLogStoreKind(logStore)
	if err != nil {
		return c, fmt.Errorf("%w: -log-store %q: want %s or %s", ErrUsage, logStore, raftcluster.LogStoreWAL, raftcluster.LogStoreBolt)
	}
	c.LogStore = kind
	if c.CopierMode, err = cluster.ParseCopierMode(*copierMode); err != nil {
		return c, fmt.Errorf("%w: -copier-mode: %w", ErrUsage, err)
	}
	if _, _, ok := sqliteModes(c.SQLiteMode); !ok {
		return c, fmt.Errorf("%w: -sqlite-mode %q: want wal or truncate", ErrUsage, c.SQLiteMode)
	}
	if join != "" {
		c.Join = strings.Split(join, ",")
	}
	if handshake < 0 || maxStreams == 0 || maxStreams > 1<<31 {
		return c, fmt.Errorf("%w: -handshake-timeout must not be negative, -stability-max-streams must be positive", ErrUsage)
	}
	c.RaftConns.HandshakeTimeout, c.StabilityConns.HandshakeTimeout = handshake, handshake
	c.StabilityConns.MaxConcurrentStreams = uint32(maxStreams)
	if c.DataDir == "" {
		c.DataDir = "sqlcluster-" + c.ID
	}
	return c, c.validate()
}

// validate checks the fields and makes the paths absolute. It creates
// DataDir and SharedDir if they are missing.
func (c *Config) validate() error {
	if c.ID == "" || len(c.ID) > 128 || strings.ContainsAny(c.ID, "/\\ \t\n") {
		return fmt.Errorf("%w: -id %q: want 1..128 characters, no slashes or spaces", ErrUsage, c.ID)
	}
	for _, a := range []struct {
		flag string
		v    *string
	}{{"-raft-addr", &c.RaftAddr}, {"-http-addr", &c.HTTPAddr}} {
		if err := checkAddr(a.flag, *a.v); err != nil {
			return err
		}
	}
	if c.StabilityAddr == "" {
		c.StabilityAddr = c.RaftAddr
	} else if err := checkAddr("-stability-addr", c.StabilityAddr); err != nil {
		return err
	}
	if c.RaftAddr == c.HTTPAddr || c.HTTPAddr == c.StabilityAddr {
		return fmt.Errorf("%w: -raft-addr %s, -http-addr %s and -stability-addr %s must differ", ErrUsage, c.RaftAddr, c.HTTPAddr, c.StabilityAddr)
	}
	for i, j := range c.Join {
		u, err := url.Parse(strings.TrimSpace(j))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: -join %q: want http://host:port or https://host:port", ErrUsage, j)
		}
		if u.Host == c.HTTPAddr {
			return fmt.Errorf("%w: -join %q is this node's own -http-addr", ErrUsage, j)
		}
		c.Join[i] = strings.TrimRight(u.String(), "/")
	}
	if c.JoinTimeout <= 0 || c.ShutdownTimeout <= 0 || c.StabilityLease < 0 {
		return fmt.Errorf("%w: -join-timeout and -shutdown-timeout must be positive, -stability-lease not negative", ErrUsage)
	}
	if t := c.Timeouts; t.Heartbeat <= 0 || t.Election <= 0 || t.LeaderLease <= 0 || t.WriterLease <= 0 || t.LeaderLease > t.Heartbeat {
		return fmt.Errorf("%w: -raft-timeout, -raft-election-timeout, -raft-leader-lease-timeout and -writer-lease must be positive, the leader lease at most -raft-timeout", ErrUsage)
	}
	n := 0
	for _, f := range []string{c.TLSCert, c.TLSKey, c.TLSCA} {
		if f != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		return fmt.Errorf("%w: -tls-cert, -tls-key and -tls-ca go together (got %d of 3)", ErrUsage, n)
	}
	if n == 3 {
		for _, f := range []*string{&c.TLSCert, &c.TLSKey, &c.TLSCA} {
			if err := existingFile(f); err != nil {
				return err
			}
		}
	}
	if c.AuthFile != "" {
		if !c.TLS() {
			return fmt.Errorf("%w: -auth needs -tls-cert/-tls-key/-tls-ca: basic authentication over plain HTTP sends passwords in the clear", ErrUsage)
		}
		if err := existingFile(&c.AuthFile); err != nil {
			return err
		}
	}
	for _, p := range []*string{&c.DataDir, &c.SharedDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		*p = filepath.Clean(abs)
	}
	if c.DataDir == c.SharedDir || strings.HasPrefix(c.DataDir, c.SharedDir+string(filepath.Separator)) ||
		strings.HasPrefix(c.SharedDir, c.DataDir+string(filepath.Separator)) {
		return fmt.Errorf("%w: -data %s and -shared %s must not contain each other", ErrUsage, c.DataDir, c.SharedDir)
	}
	if err := ensureDir("-data", c.DataDir); err != nil {
		return err
	}
	if err := ensureDir("-shared", c.SharedDir); err != nil {
		return err
	}
	if c.MutationLog != "" {
		abs, err := filepath.Abs(c.MutationLog)
		if err != nil {
			return fmt.Errorf("%w: -mutation-log: %v", ErrUsage, err)
		}
		c.MutationLog = abs
	}
	return nil
}

// checkAddr accepts host:port with a literal or resolvable host that other
// nodes can dial (not unspecified) and a port in 1..65535.
func checkAddr(flag, a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrUsage, flag, a, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: %s %q: port must be 1..65535", ErrUsage, flag, a)
	}
	if host == "" {
		return fmt.Errorf("%w: %s %q: give a host other nodes can reach", ErrUsage, flag, a)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%w: %s %q: the address is advertised to other nodes and must not be unspecified", ErrUsage, flag, a)
	}
	return nil
}

func existingFile(p *string) error {
	fi, err := os.Stat(*p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: %s is a directory, want a file", ErrUsage, *p)
	}
	abs, err := filepath.Abs(*p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	*p = abs
	return nil
}

// ensureDir creates dir (absolute) if missing; its parent must exist (a
// typo should not create a directory tree).
func ensureDir(flag, dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%w: %s %s is not a directory", ErrUsage, flag, dir)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s: %v", ErrUsage, flag, err)
	}
	parent := filepath.Dir(dir)
	if pfi, err := os.Stat(parent); err != nil || !pfi.IsDir() {
		return fmt.Errorf("%w: %s %s: parent directory %s does not exist", ErrUsage, flag, dir, parent)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s: %v", ErrUsage, flag, err)
	}
	return nil
}

// sqliteModes maps -sqlite-mode to sqlnode's journal and sync modes.
func sqliteModes(mode string) (journal, sync string, ok bool) {
	switch mode {
	case "", "wal":
		return "WAL", "NORMAL", true
	case "truncate":
		return "TRUNCATE", "FULL", true
	}
	return "", "", false
}
