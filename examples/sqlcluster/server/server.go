package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/connlimit"
	"github.com/holeycow/holeycow/vfs"
)

// Layout of the directories.
const (
	sharedDBDir      = "db"                // SharedDir/db: the shared database (the vfs.OS root)
	sharedClusterDir = "cluster"           // SharedDir/cluster: auto CA, member directory
	membersDir       = "members"           // SharedDir/cluster/members
	raftDir          = "raft"              // DataDir/raft: raft.db and snapshots
	scratchDir       = "scratch"           // DataDir/scratch: copier overlays
	raftDBFile       = "raft.db"           // in DataDir/raft
	memberFile       = "member"            // in DataDir: written once the node has bootstrapped or joined
	dbName           = "main.db"           // in SharedDir/db
	readyLine        = "sqlcluster: ready" // logged once the node serves and is a member
)

// Main runs the serve subcommand with args (without "serve") until SIGINT
// or SIGTERM, and returns the exit code: 0 after a clean shutdown, 2 for a
// bad command line, 1 otherwise. Logs go to stderr.
func Main(args []string, stderr io.Writer) int {
	cfg, err := Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sqlcluster serve:", err)
		return 2
	}
	cfg.LogOutput = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(stderr, "sqlcluster serve:", err)
		return 1
	}
	return 0
}

// Run starts the node cfg describes, serves its HTTP API, bootstraps or
// joins the cluster (unless DataDir holds Raft state: then the member
// restarts as itself), and runs until ctx is done; then it shuts down
// gracefully (HTTP first, then the node, then the stability endpoint) and
// returns. It does not leave the cluster unless cfg.LeaveOnExit:
// restarted with the same DataDir, the node comes back as the same member.
//
// A restarted member first asks the cluster whether it is still a member
// (raftcluster.Node.CheckMembership, up to JoinTimeout). If the cluster
// removed it meanwhile, Run fails with ErrRemoved, or, with cfg.Join,
// discards its Raft state and joins again as a new member. If no leader
// answers in time (the whole cluster may be restarting), it serves as the
// member it was.
func Run(ctx context.Context, cfg Config) error {
	err := run(ctx, cfg)
	if errors.Is(err, errRejoin) {
		err = run(ctx, cfg)
	}
	return err
}

// run is one life of the node, in phases: open (identity, storage,
// listeners, the node), serve (the HTTP API), join (bootstrap, join, or
// restart as the member it was), then wait for ctx and shut down. The
// command line was parsed before (Parse).
func run(ctx context.Context, cfg Config) (err error) {
	p := newProcess(cfg)
	defer func() { err = p.shutDown(err) }()
	if err := p.open(ctx); err != nil {
		return err
	}
	if err := p.serve(); err != nil {
		return err
	}
	if err := p.join(ctx); err != nil {
		return err
	}
	return p.wait(ctx)
}

// process is the state of one run, built by its phases.
//
// Concurrency: used by run's goroutine only (the HTTP server's goroutine
// reports on serveErr).
type process struct {
	cfg       Config
	log       *slog.Logger // raftcluster and netstorage add node=ID to their records
	nlog      *slog.Logger // this package's and httpapi's records, with node=ID
	raftPath  string
	closers   []func() error // run in reverse order on the way out
	left      bool           // -leave, or removed: this node is no member; forget its Raft state
	restarted bool           // DataDir held a member's Raft state

	id        *identity
	tr        *raftcluster.TLSTransport
	node      *cluster.Node
	store     *netstorage.Storage
	httpLn    net.Listener
	clientTLS *tls.Config // the node's certificate, for other members' HTTP API
	serveErr  chan error  // the HTTP server's failure
}

func newProcess(cfg Config) *process {
	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return &process{cfg: cfg, log: log, nlog: log.With("node", cfg.ID), raftPath: filepath.Join(cfg.DataDir, raftDir),
		serveErr: make(chan error, 1)}
}

// shutDown runs the closers in reverse order, then forgets the Raft state
// if the node left, then logs the outcome; it returns err with what failed
// on the way.
func (p *process) shutDown(err error) error {
	for i := len(p.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, p.closers[i]())
	}
	if p.left {
		err = errors.Join(err, os.Remove(filepath.Join(p.cfg.DataDir, memberFile)), os.RemoveAll(p.raftPath))
	}
	p.nlog.Info("stopped", "err", err)
	return err
}

// open loads the identity, prepares shared storage and the data
// directory, listens, and starts the node (not yet a cluster member).
func (p *process) open(ctx context.Context) error {
	cfg, log, nlog := &p.cfg, p.log, p.nlog
	clusterDir := filepath.Join(cfg.SharedDir, sharedClusterDir)
	dir, err := newDirectory(filepath.Join(clusterDir, membersDir))
	if err != nil {
		return err
	}
	var id *identity
	if cfg.TLS() {
		id, err = loadIdentity(cfg)
	} else {
		var ca *autoCA
		ca, err = loadOrCreateAutoCA(clusterDir)
		if err == nil {
			id, err = ca.issue(cfg.ID, hostOf(cfg.RaftAddr), hostOf(cfg.StabilityAddr), hostOf(cfg.HTTPAddr))
		}
	}
	if err != nil {
		return err
	}
	p.id = id

	dbDir := filepath.Join(cfg.SharedDir, sharedDBDir)
	// Private, as the database in it is (issue 16); an older node made it
	// 0755.
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return fmt.Errorf("server: -shared: %w", err)
	}
	if err := os.Chmod(dbDir, 0o700); err != nil {
		return fmt.Errorf("server: -shared: %w", err)
	}
	sharedOpts, err := sharedOptions(ctx, dbDir, *cfg, nlog)
	if err != nil {
		return err
	}
	var shared vfs.FS = vfs.OSWithOptions(dbDir, sharedOpts)
	var storePtr atomic.Pointer[netstorage.Storage]
	if cfg.MutationLog != "" {
		ml, err := openMutationLog(cfg.MutationLog, func() uint64 {
			if s := storePtr.Load(); s != nil {
				return s.WriterEpoch()
			}
			return 0
		})
		if err != nil {
			return err
		}
		p.closers = append(p.closers, ml.Close)
		shared = withMutationLog(shared, ml)
	}
	if p.restarted, err = memberBefore(cfg.DataDir, p.raftPath, nlog); err != nil {
		return err
	}
	scratch := filepath.Join(cfg.DataDir, scratchDir)
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("server: -data: %w", err)
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return fmt.Errorf("server: -data: %w", err)
	}

	// Listen first, so a busy port fails before anything else starts.
	if p.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("server: -http-addr: %w", err)
	}
	p.closers = append(p.closers, ignoreClosed(p.httpLn.Close))
	var stabLn net.Listener // the stability endpoint's: a port of its own, or the Raft port's (below)
	if cfg.StabilityAddr != cfg.RaftAddr {
		if stabLn, err = net.Listen("tcp", cfg.StabilityAddr); err != nil {
			return fmt.Errorf("server: -stability-addr: %w", err)
		}
		p.closers = append(p.closers, ignoreClosed(stabLn.Close))
	}
	tr, err := raftcluster.NewTLSTransportWithLimits(cfg.RaftAddr, cfg.RaftAddr, id.raftTLS(), 0, log, cfg.RaftConns)
	if err != nil {
		return fmt.Errorf("server: -raft-addr: %w", err)
	}
	p.tr = tr
	if stabLn == nil {
		stabLn = tr.StabilityListener()
	}
	gcfg := stability.GRPCConfig{ID: cfg.ID, Cert: id.cert, CA: id.pool, Logger: log, Limits: cfg.StabilityConns}
	gtr, err := stability.NewGRPCTransport(gcfg)
	if err != nil {
		tr.Close()
		return err
	}
	// Publish the addresses before Raft starts: members that know this
	// node only by ID find its stability and HTTP addresses here.
	if err := dir.publish(memberInfo{ID: cfg.ID, APIAddr: cfg.APIAddr(), RaftAddr: cfg.RaftAddr, StabilityAddr: cfg.StabilityAddr}); err != nil {
		return err
	}
	newStore := overlayStores(scratch)
	storage := func(mid string, eng cluster.Engine) (cluster.Storage, error) {
		st, err := netstorage.New(netstorage.Config{
			ID: mid, Shared: shared, Transport: resolvingTransport{inner: gtr, dir: dir}, Engine: eng,
			View: cow.Options{BlockSize: cluster.PageSize}, NewStore: newStore,
			Lease: cfg.StabilityLease, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		ns, err := cluster.ServeStability(st, gcfg, stabLn, cfg.StabilityAddr)
		if err != nil {
			return nil, err
		}
		storePtr.Store(st)
		return ns, nil
	}
	journal, syncMode, _ := sqliteModes(cfg.SQLiteMode)
	node, err := cluster.New(cluster.Config{
		ID: cfg.ID, Transport: tr, DataDir: p.raftPath, LogStore: cfg.LogStore, Storage: storage, DBName: dbName,
		JournalMode: journal, Synchronous: syncMode, CopierMode: cfg.CopierMode, RefreshLag: cfg.RefreshLag,
		APIAddr: cfg.APIAddr(), APIAddrOf: dir.apiAddr, Logger: log, MaxSteps: cfg.MaxSteps,
		Timeouts: cfg.Timeouts,
	})
	if err != nil {
		return err
	}
	p.node, p.store = node, storePtr.Load()
	p.closers = append(p.closers, node.Close) // closes the storage and its stability endpoint too
	if cfg.BenchNoopApply {
		nlog.Warn("-bench-noop-apply: every write is applied as a no-op; the database does not receive them")
		node.SetNoopApply(true)
	}
	return nil
}

// serve starts the HTTP API on the node.
func (p *process) serve() error {
	cfg, nlog, id, node := &p.cfg, p.nlog, p.id, p.node
	var creds *httpapi.Credentials
	if cfg.AuthFile != "" {
		var err error
		if creds, err = httpapi.ReadCredentialsFile(cfg.AuthFile); err != nil {
			return err
		}
	}
	// The node's certificate authenticates it to other members' HTTP API
	// (joins, forwarded requests): with -auth, it stands for PermJoin and
	// PermRemove, for the member it names only (httpapi.Config.PeerPerms).
	p.clientTLS = &tls.Config{RootCAs: id.pool, Certificates: []tls.Certificate{id.cert}, MinVersion: tls.VersionTLS12}
	fwd := http.DefaultTransport.(*http.Transport).Clone()
	fwd.TLSClientConfig = p.clientTLS
	api, err := httpapi.New(httpapi.Config{Backend: node.Backend(), Logger: nlog.With("component", "http"),
		Credentials: creds, PeerPerms: []string{httpapi.PermJoin, httpapi.PermRemove}, Transport: fwd, Limits: cfg.Requests,
		QueueBatchSize: cfg.QueueBatchSize, QueueTimeout: cfg.QueueTimeout, QueueCapacity: cfg.QueueCapacity})
	if err != nil {
		return err
	}
	if err := api.Registry().Register(&collector{node: node, store: p.store}); err != nil {
		return err
	}
	mux := http.NewServeMux()
	if cfg.Debug {
		mux.HandleFunc("GET /debug/checksum", checksumHandler(node))
		handleDebug(mux)
	}
	mux.Handle("/", api)
	hs := &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(nlog.Handler(), slog.LevelWarn)}
	httpLimited := httpapi.ApplyConnLimits(hs, p.httpLn, cfg.HTTPConns)
	httpCapped, _ := httpLimited.(*connlimit.Listener)
	if err := api.Registry().Register(&connCollector{http: httpCapped, raft: p.tr}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if cfg.TLS() {
			hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{id.cert}, MinVersion: tls.VersionTLS12,
				ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: id.pool}
			err = hs.ServeTLS(httpLimited, "", "")
		} else {
			err = hs.Serve(httpLimited)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			p.serveErr <- err
		}
	}()
	p.closers = append(p.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		err := hs.Shutdown(sctx)
		if err != nil {
			hs.Close()
		}
		wg.Wait()
		// Execute the queued writes still waiting, before the node closes.
		return errors.Join(err, api.Close())
	})
	return nil
}

// join makes the node a member: it bootstraps, joins through -join, or,
// restarted, checks that it still is one.
func (p *process) join(ctx context.Context) error {
	cfg, nlog, node := &p.cfg, p.nlog, p.node
	switch {
	case p.restarted:
		nlog.Info("restarting as an existing member; checking membership", "data", cfg.DataDir)
		cctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
		err := node.Raft().CheckMembership(cctx)
		cancel()
		switch {
		case errors.Is(err, raftcluster.ErrUnknownMember) && len(cfg.Join) == 0:
			nlog.Error("this node was removed from the cluster", "err", err)
			return fmt.Errorf("%w: node %s was removed while it was away; its -data %s holds a former member's state: start it with -join to join again as a new member, or with an empty -data", ErrRemoved, cfg.ID, cfg.DataDir)
		case errors.Is(err, raftcluster.ErrUnknownMember):
			nlog.Warn("this node was removed from the cluster; discarding its Raft state to join again as a new member", "join", cfg.Join, "err", err)
			p.left = true // shutDown forgets the Raft state
			return errRejoin
		case err != nil:
			nlog.Warn("could not confirm membership (no leader answered); serving as the member this node was", "err", err)
		}
	case len(cfg.Join) == 0:
		bctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
		err := node.Bootstrap(bctx)
		cancel()
		if err != nil {
			return fmt.Errorf("server: bootstrap: %w", err)
		}
	default:
		if err := join(ctx, cfg, p.clientTLS, nlog); err != nil {
			return err
		}
	}
	if !p.restarted {
		if err := markMember(cfg.DataDir); err != nil {
			return err
		}
	}
	nlog.Info(readyLine, "http", cfg.APIAddr(), "raft", cfg.RaftAddr, "stability", cfg.StabilityAddr,
		"restarted", p.restarted, "tls", cfg.TLS())
	return nil
}

// wait serves until ctx is done (then leaves the cluster with -leave) or
// the HTTP server fails.
func (p *process) wait(ctx context.Context) error {
	cfg, nlog := &p.cfg, p.nlog
	select {
	case <-ctx.Done():
		nlog.Info("shutting down")
		if !cfg.LeaveOnExit {
			return nil
		}
		lctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := p.node.Leave(lctx); err != nil {
			return fmt.Errorf("server: leave: %w", err)
		}
		nlog.Info("left the cluster")
		p.left = true
		return nil
	case err := <-p.serveErr:
		return fmt.Errorf("server: http: %w", err)
	}
}

// join asks the cluster, through the -join URLs in turn, to add this node,
// retrying with backoff until cfg.JoinTimeout. The receiving node forwards
// the request to the leader, except one that this node's certificate
// authorizes (with -auth): the leader must see that certificate, so the
// receiving node answers 503 with the leader's URL, asked next.
func join(ctx context.Context, cfg *Config, tc *tls.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	// httpapi.JoinRequest has no stability address; it travels as an
	// extra field, which today's receivers ignore (they find it in the
	// member directory).
	body, err := json.Marshal(struct {
		httpapi.JoinRequest
		StabilityAddr string `json:"stability_addr"`
	}{httpapi.JoinRequest{ID: cfg.ID, Addr: cfg.RaftAddr, APIAddr: cfg.APIAddr()}, cfg.StabilityAddr})
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	delay := 100 * time.Millisecond
	var last error
	leader := "" // the leader's URL, as a node that is not named it
	for attempt := 0; ; attempt++ {
		u := cfg.Join[attempt%len(cfg.Join)] + "/join"
		if leader != "" {
			u, leader = leader+"/join", ""
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrJoin, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				log.Info("joined", "via", u, "attempts", attempt+1)
				return nil
			}
			var eb struct {
				Leader string `json:"leader"`
			}
			if resp.StatusCode == http.StatusServiceUnavailable && json.Unmarshal(msg, &eb) == nil &&
				(strings.HasPrefix(eb.Leader, "http://") || strings.HasPrefix(eb.Leader, "https://")) {
				leader = strings.TrimSuffix(eb.Leader, "/")
			}
			err = fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
		}
		last = err
		log.Debug("join attempt failed", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w within %v: %v (last attempt: %v)", ErrJoin, cfg.JoinTimeout, ctx.Err(), last)
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// overlayStores returns cow.Options.NewStore for copier views: each view
// gets its own sub-directory of scratch (scratch/1, scratch/2, ...);
// directories older than the previous view's are removed.
func overlayStores(scratch string) func() (cow.Store, error) {
	var mu sync.Mutex
	seq := 0
	return func() (cow.Store, error) {
		mu.Lock()
		defer mu.Unlock()
		seq++
		if seq > 2 {
			os.RemoveAll(filepath.Join(scratch, strconv.Itoa(seq-2)))
		}
		d := filepath.Join(scratch, strconv.Itoa(seq))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("server: overlay scratch: %w", err)
		}
		return cow.NewDirStore(vfs.OS(d))
	}
}

// checksumHandler serves GET /debug/checksum?index=N: the logical
// checksum of this node's database after log index N (default: the last
// SQL entry it stored). 409 if the node already applied a later write.
func checksumHandler(node *cluster.Node) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		idx := node.Stats().DBIndex
		if s := r.URL.Query().Get("index"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				http.Error(w, "bad index", http.StatusBadRequest)
				return
			}
			idx = v
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		sum, err := node.ChecksumAt(ctx, idx)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code := http.StatusServiceUnavailable
			if errors.Is(err, cluster.ErrPassed) {
				code = http.StatusConflict
			}
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"index": sum.Index, "checksum": sum.String()})
	}
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func ignoreClosed(f func() error) func() error {
	return func() error {
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// memberBefore reports whether the node in dataDir was a member before: it
// bootstrapped or joined and wrote the member marker. Raft state without
// the marker is what a node killed during its first bootstrap or join
// leaves: it is removed, so that the node starts afresh.
func memberBefore(dataDir, raftPath string, log *slog.Logger) (bool, error) {
	_, rerr := os.Stat(filepath.Join(raftPath, raftDBFile))
	_, merr := os.Stat(filepath.Join(dataDir, memberFile))
	switch {
	case rerr == nil && merr == nil:
		return true, nil
	case rerr == nil:
		log.Warn("Raft state from an unfinished first bootstrap or join; starting afresh", "dir", raftPath)
		if err := os.RemoveAll(raftPath); err != nil {
			return false, fmt.Errorf("server: -data: %w", err)
		}
	case merr == nil:
		return false, fmt.Errorf("server: -data %s: member marker without Raft state (%s missing): restore it or use a new -data", dataDir, filepath.Join(raftDir, raftDBFile))
	}
	return false, nil
}

// markMember records in dataDir that the node bootstrapped or joined.
func markMember(dataDir string) error {
	p := filepath.Join(dataDir, memberFile)
	if err := os.WriteFile(p, []byte("bootstrapped or joined; remove the whole -data directory to start this node afresh\n"), 0o600); err != nil {
		return fmt.Errorf("server: -data: %w", err)
	}
	return nil
}
