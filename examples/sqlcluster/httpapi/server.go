package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 8 << 20
	DefaultTimeout      = 30 * time.Second
)

// ForwardedHeader marks a request that a node forwarded to the leader. A
// node that gets a forwarded request and is not the leader either answers
// 503 instead of forwarding again, so that two nodes that each think the
// other leads cannot bounce a request between them.
const ForwardedHeader = "X-Holeycow-Forwarded"

// HiddenNonvotersHeader counts the members that GET /nodes left out
// because they are not voters (rqlite lists them only with ?nonvoters).
const HiddenNonvotersHeader = "X-Holeycow-Hidden-Nonvoters"

// Config configures a Server.
type Config struct {
	// Backend serves the requests; required.
	Backend Backend
	// MaxBodyBytes bounds request bodies (413 beyond); 0 means
	// DefaultMaxBodyBytes. Keep it below sqlnode.MaxCommandSize.
	MaxBodyBytes int64
	// Timeout bounds each request's Backend calls and forwarding unless
	// the request's ?timeout says otherwise; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives one record per request (Info, Warn for 4xx, Error
	// for 5xx); nil discards.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics; the
	// node registers its own collectors (stability rounds, lease lapses,
	// applied index, ...) on the same Registry. nil makes a new one with
	// the Go and process collectors.
	Registry *prometheus.Registry
	// Credentials, if not nil, turns on HTTP basic authentication and
	// per-endpoint permissions (see Credentials).
	Credentials *Credentials
	// PeerPerms are granted, with Credentials set, to a client that
	// presents a TLS client certificate the server verified (its
	// tls.Config sets ClientAuth to tls.VerifyClientCertIfGiven and
	// ClientCAs to the cluster's CA): PermJoin lets members join with
	// their cluster certificate instead of a password.
	PeerPerms []string
	// Transport carries forwarded requests; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// DisableForwarding makes a node that is not the leader answer 503
	// with the leader's address instead of forwarding.
	DisableForwarding bool
	// Limits bound each request's work (result sizes, statements).
	Limits Limits
	// QueueBatchSize and QueueTimeout shape the batches of ?queue writes:
	// a batch is executed (as one log entry) when it holds QueueBatchSize
	// requests or QueueTimeout after its first; QueueCapacity bounds the
	// requests waiting (a full queue holds the next one back). 0 means
	// DefaultQueueBatchSize, DefaultQueueTimeout, DefaultQueueCapacity.
	QueueBatchSize int
	QueueTimeout   time.Duration
	QueueCapacity  int
	// TempDir holds backups and loads while they are prepared ("":
	// os.TempDir()).
	TempDir string
	// Version is reported in /status ("build"), /debug/vars and the
	// VersionHeader of every answer; "" means the main module's version.
	Version string
}

// Server is the HTTP API of one node. It is an http.Handler.
//
// Concurrency: safe for concurrent use; it keeps no state of its own but
// metrics, and calls the Backend concurrently.
type Server struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	m       *metrics
	start   time.Time
	metrics http.Handler
	queue   *writeQueue
}

var _ http.Handler = (*Server)(nil)

// New returns a Server for cfg. It fails if cfg.Backend is nil or the
// metrics cannot be registered (a Registry already holding them).
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("httpapi: Config.Backend is nil")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, reg: cfg.Registry, start: time.Now()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = newDefaultRegistry()
	}
	m, err := newMetrics(s.reg)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.metrics = metricsHandler(s.reg)
	if cfg.QueueBatchSize <= 0 {
		cfg.QueueBatchSize = DefaultQueueBatchSize
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.QueueCapacity <= 0 {
		cfg.QueueCapacity = DefaultQueueCapacity
	}
	if s.queue, err = newWriteQueue(s, cfg.QueueBatchSize, cfg.QueueCapacity, cfg.QueueTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

// Close executes the queued writes (?queue) still waiting and stops the
// queue; later ?queue requests get 503. Call it after the http.Server
// stopped serving, before closing the Backend.
func (s *Server) Close() error {
	s.queue.close()
	return nil
}

// Registry returns the registry that /metrics serves, for the node to
// register its collectors on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

type route struct {
	methods []string
	perms   []string // all needed (see Credentials)
	h       func(*Server, http.ResponseWriter, *http.Request)
}

var routes = map[string]route{
	"/db/execute": {[]string{http.MethodPost}, []string{PermExecute}, (*Server).handleExecute},
	"/db/query":   {[]string{http.MethodGet, http.MethodPost}, []string{PermQuery}, (*Server).handleQuery},
	"/db/request": {[]string{http.MethodPost}, []string{PermExecute, PermQuery}, (*Server).handleRequest},
	"/status":     {[]string{http.MethodGet}, []string{PermStatus}, (*Server).handleStatus},
	"/nodes":      {[]string{http.MethodGet}, []string{PermStatus}, (*Server).handleNodes},
	"/readyz":     {[]string{http.MethodGet}, []string{PermReady}, (*Server).handleReady},
	"/join":       {[]string{http.MethodPost}, []string{PermJoin}, (*Server).handleJoin},
	"/remove":     {[]string{http.MethodDelete}, []string{PermRemove}, (*Server).handleRemove},
	"/metrics":    {[]string{http.MethodGet}, []string{PermStatus}, (*Server).handleMetrics},
	"/debug/vars": {[]string{http.MethodGet}, []string{PermStatus}, (*Server).handleVars},
	"/db/backup":  {[]string{http.MethodGet}, []string{PermBackup}, (*Server).handleBackup},
	"/db/load":    {[]string{http.MethodPost}, []string{PermLoad}, (*Server).handleLoad},
}

// ServeHTTP routes r, checks its credentials, serves it, and records it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	rec.Header().Set(VersionHeader, s.version())
	endpoint := "other"
	rt, known := routes[r.URL.Path]
	if known {
		endpoint = r.URL.Path
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("httpapi: panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				writeJSON(rec, http.StatusInternalServerError, errorBody{Error: "httpapi: internal error"}, false)
			}
		}
		s.record(r, rec, endpoint, time.Since(start))
	}()
	if !known {
		writeJSON(rec, http.StatusNotFound, errorBody{Error: "httpapi: no such endpoint: " + r.URL.Path}, false)
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		rec.Header().Set("Allow", strings.Join(rt.methods, ", "))
		writeJSON(rec, http.StatusMethodNotAllowed, errorBody{Error: fmt.Sprintf("httpapi: method %s not allowed on %s", r.Method, r.URL.Path)}, false)
		return
	}
	g, status, err := s.cfg.Credentials.authorize(r, rt.perms, s.cfg.PeerPerms)
	if err != nil {
		if status == http.StatusUnauthorized {
			rec.Header().Set("WWW-Authenticate", `Basic realm="holeycow"`)
		}
		// Do not keep a connection that failed to authenticate.
		rec.Header().Set("Connection", "close")
		writeJSON(rec, status, errorBody{Error: err.Error()}, false)
		return
	}
	rt.h(s, rec, r.WithContext(context.WithValue(r.Context(), grantKey{}, g)))
}

// record logs and counts one served request.
func (s *Server) record(r *http.Request, rec *recorder, endpoint string, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.m.observe(endpoint, r.Method, status, d, rec.forwarded)
	// Requests are routine (Debug); a client's error is Warn, the
	// server's Error, but for /readyz, whose 503 is an answer ("not
	// ready yet"), not a failure.
	level := slog.LevelDebug
	switch {
	case endpoint == "/readyz" && status == http.StatusServiceUnavailable:
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr), slog.Bool("forwarded", rec.forwarded),
		slog.Bool("from_peer", r.Header.Get(ForwardedHeader) != ""))
}

// recorder remembers the status written, for logs and metrics.
type recorder struct {
	http.ResponseWriter
	status    int
	wrote     bool
	forwarded bool
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// statusOf maps an error to its HTTP status (see Backend).
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, sqlnode.ErrRejected), errors.Is(err, sqlnode.ErrResultTooLarge):
		return http.StatusBadRequest
	case errors.Is(err, sqlnode.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrUnavailable), errors.Is(err, sqlnode.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	case errors.Is(err, errors.ErrUnsupported):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// fail writes err as a JSON error with its status; the client gets it
// without file paths (clientMessage), the log gets it whole.
func (s *Server) fail(w http.ResponseWriter, err error, pretty bool) {
	status := statusOf(err)
	msg, redacted := clientMessage(err, status)
	if redacted || status >= 500 {
		s.log.Warn("httpapi: request failed", "status", status, "err", err)
	}
	body := errorBody{Error: msg}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		body.Leader = nl.LeaderHTTP
	}
	writeJSON(w, status, body, pretty)
}

// readBody reads the whole body, at most MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: body larger than %d bytes", sqlnode.ErrTooLarge, mbe.Limit)
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return body, nil
}

func (s *Server) context(r *http.Request, o options) (context.Context, context.CancelFunc) {
	d := s.cfg.Timeout
	if o.timeout > 0 {
		d = o.timeout
	}
	if h := headerTimeout(r); h > 0 && h < d {
		d = h // forwarded: answer before the forwarding node gives up
	}
	canForward := o.redirect || (!s.cfg.DisableForwarding && r.Header.Get(ForwardedHeader) == "")
	return context.WithTimeout(context.WithValue(r.Context(), forwardKey{}, canForward), d)
}

// dbRequest is a decoded /db request.
type dbRequest struct {
	opts  options
	body  []byte
	stmts []sqlnode.Statement
}

// decodeDB parses the options and statements of a /db request; on error
// it has written the response.
func (s *Server) decodeDB(w http.ResponseWriter, r *http.Request) (dbRequest, bool) {
	var req dbRequest
	var err error
	if req.opts, err = parseOptions(r.URL.Query()); err != nil {
		s.fail(w, err, false)
		return req, false
	}
	if r.Method == http.MethodGet {
		qs := r.URL.Query()["q"]
		if len(qs) != 1 || strings.TrimSpace(qs[0]) == "" {
			s.fail(w, badRequest("GET %s needs exactly one non-empty q= parameter", r.URL.Path), req.opts.pretty)
			return req, false
		}
		if !utf8.ValidString(qs[0]) {
			s.fail(w, badRequest("q= is not valid UTF-8"), req.opts.pretty)
			return req, false
		}
		req.stmts = []sqlnode.Statement{{SQL: qs[0]}}
		return req, true
	}
	if req.body, err = s.readBody(w, r); err == nil {
		req.stmts, err = DecodeStatements(req.body)
	}
	if err == nil {
		err = s.checkStatements(len(req.stmts))
	}
	if err != nil {
		s.fail(w, err, req.opts.pretty)
		return req, false
	}
	return req, true
}

// execute runs stmts through the log. With ?transaction (or a single
// statement) they form one request, all or nothing. Without, as in
// rqlite, each statement stands alone: each is its own log entry, and a
// failing one does not stop the others. If the Backend fails after some
// statements committed, the rest get an error Result rather than the
// request an error status, so that a client does not retry the committed
// ones: "not executed" for those that did not commit, "outcome unknown"
// for the one whose Execute failed in a way that leaves it open. Near the
// deadline (stopEarly) no further statement starts, so that the answer
// saying which committed is sent before the client, or a forwarding
// node, gives up.
func (s *Server) execute(ctx context.Context, stmts []sqlnode.Statement, tx bool) (uint64, []sqlnode.Result, error) {
	if tx || len(stmts) == 1 {
		resp, err := s.cfg.Backend.Execute(ctx, s.writeRequest(stmts))
		return resp.Index, resp.Results, err
	}
	// Refuse what Prepare would refuse before anything commits, with the
	// statement numbers of the whole request.
	if _, err := sqlnode.Rewrite(sqlnode.Request{Statements: stmts}, sqlnode.Env{}); err != nil {
		return 0, nil, err
	}
	var idx uint64
	var out []sqlnode.Result
	start := time.Now()
	for i, st := range stmts {
		if stopEarly(ctx, i, time.Since(start)) {
			for range stmts[i:] {
				out = append(out, sqlnode.Result{Error: "httpapi: not executed: the request's timeout was near; send the statements not executed again"})
			}
			return idx, out, nil
		}
		resp, err := s.cfg.Backend.Execute(ctx, s.writeRequest([]sqlnode.Statement{st}))
		if err != nil {
			if i == 0 {
				return 0, nil, err
			}
			msg, _ := clientMessage(err, statusOf(err))
			if notCommitted(err) {
				out = append(out, sqlnode.Result{Error: "httpapi: not executed: " + msg})
			} else {
				out = append(out, sqlnode.Result{Error: "httpapi: outcome unknown (it may have committed): " + msg})
			}
			for range stmts[i+1:] {
				out = append(out, sqlnode.Result{Error: "httpapi: not executed: " + msg})
			}
			return idx, out, nil
		}
		idx = resp.Index
		out = append(out, resp.Results...)
	}
	return idx, out, nil
}

// serveDB serves a /db request: it decodes it, runs it under the
// request's context, and writes the response or the error. run reports
// whether the statements went through the log (then idx is the entry's
// index).
func (s *Server) serveDB(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, req dbRequest) (idx uint64, rs []sqlnode.Result, wrote bool, err error)) {
	req, ok := s.decodeDB(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.context(r, req.opts)
	defer cancel()
	extendWrite(w, req.opts)
	start := time.Now()
	idx, rs, wrote, err := run(ctx, req)
	if err != nil {
		s.backendError(w, r, req.opts, req.body, err)
		return
	}
	var out response
	if req.opts.timings {
		out.Time = time.Since(start).Seconds()
	}
	if wrote && req.opts.raftIndex && !req.opts.queue {
		out.RaftIndex = &idx
	}
	if wrote && req.opts.queue {
		out.SequenceNumber = &idx
	}
	writeResults(w, out, rs, req.opts)
}

func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request) { s.serveDB(w, r, s.runExecute) }
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request)   { s.serveDB(w, r, s.runQuery) }

// handleRequest serves /db/request, reads and writes mixed (runRequest).
func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request) { s.serveDB(w, r, s.runRequest) }

// runExecute runs a request's statements through the log (with ?queue,
// through the write queue: runQueued).
func (s *Server) runExecute(ctx context.Context, req dbRequest) (uint64, []sqlnode.Result, bool, error) {
	if req.opts.queue {
		return s.runQueued(ctx, req)
	}
	idx, rs, err := s.execute(ctx, req.stmts, req.opts.transaction)
	return idx, rs, true, err
}

// runQuery runs a request's statements as a read at the requested level.
func (s *Server) runQuery(ctx context.Context, req dbRequest) (uint64, []sqlnode.Result, bool, error) {
	rs, err := s.cfg.Backend.Query(WithFreshness(s.limitReads(ctx), req.opts.freshness), req.opts.level, req.stmts)
	return 0, rs, false, err
}

// runRequest first runs the statements as a read at the requested level;
// if that succeeds they were all reads, and that is the answer. If any
// statement failed (it writes, or it has an error that may hide later
// writes), the request goes through the log instead, where reads and
// writes both run, in order. A failing read thus costs a log entry.
func (s *Server) runRequest(ctx context.Context, req dbRequest) (uint64, []sqlnode.Result, bool, error) {
	rs, err := s.cfg.Backend.Query(WithFreshness(s.limitReads(ctx), req.opts.freshness), req.opts.level, req.stmts)
	if err != nil || !slices.ContainsFunc(rs, func(x sqlnode.Result) bool { return x.Error != "" }) {
		return 0, rs, false, err
	}
	return s.runExecute(ctx, req)
}

// statusJSON is GET /status, laid out as rqlite's.
type statusJSON struct {
	Store struct {
		NodeID string `json:"node_id"`
		Addr   string `json:"addr"`
		Leader struct {
			NodeID string `json:"node_id"`
			Addr   string `json:"addr"`
		} `json:"leader"`
		Raft struct {
			State        string `json:"state"`
			Term         uint64 `json:"term"`
			CommitIndex  uint64 `json:"commit_index"`
			AppliedIndex uint64 `json:"applied_index"`
		} `json:"raft"`
		DBAppliedIndex uint64 `json:"db_applied_index"`
	} `json:"store"`
	Build buildJSON `json:"build"`
	HTTP  struct {
		Auth string `json:"auth"`
	} `json:"http"`
	Node struct {
		StartTime   time.Time `json:"start_time"`
		CurrentTime time.Time `json:"current_time"`
		Uptime      string    `json:"uptime"`
	} `json:"node"`
	Runtime struct {
		GOOS         string `json:"GOOS"`
		GOARCH       string `json:"GOARCH"`
		GOMAXPROCS   int    `json:"GOMAXPROCS"`
		NumCPU       int    `json:"num_cpu"`
		NumGoroutine int    `json:"num_goroutine"`
		Version      string `json:"version"`
	} `json:"runtime"`
	Holeycow map[string]any `json:"holeycow,omitempty"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.context(r, options{})
	defer cancel()
	st, err := s.cfg.Backend.Status(ctx)
	if err != nil {
		s.fail(w, err, isSet(r, "pretty"))
		return
	}
	var out statusJSON
	out.Store.NodeID, out.Store.Addr = st.NodeID, st.RaftAddr
	out.Store.Leader.NodeID, out.Store.Leader.Addr = st.LeaderID, st.LeaderRaftAddr
	out.Store.Raft.State, out.Store.Raft.Term = st.State, st.Term
	out.Store.Raft.CommitIndex, out.Store.Raft.AppliedIndex = st.CommitIndex, st.AppliedIndex
	out.Store.DBAppliedIndex = st.AppliedIndex
	out.Build = s.build()
	out.HTTP.Auth = "disabled"
	if s.cfg.Credentials != nil {
		out.HTTP.Auth = "enabled"
	}
	now := time.Now()
	out.Node.StartTime, out.Node.CurrentTime = s.start.UTC(), now.UTC()
	out.Node.Uptime = now.Sub(s.start).String()
	out.Runtime.GOOS, out.Runtime.GOARCH = runtime.GOOS, runtime.GOARCH
	out.Runtime.GOMAXPROCS, out.Runtime.NumCPU = runtime.GOMAXPROCS(0), runtime.NumCPU()
	out.Runtime.NumGoroutine, out.Runtime.Version = runtime.NumGoroutine(), runtime.Version()
	out.Holeycow = st.Extra
	writeJSON(w, http.StatusOK, out, isSet(r, "pretty"))
}

// nodeJSON is one node of GET /nodes, as rqlite's.
type nodeJSON struct {
	ID        string  `json:"id"`
	APIAddr   string  `json:"api_addr"`
	Addr      string  `json:"addr"`
	Voter     bool    `json:"voter"`
	Reachable bool    `json:"reachable"`
	Leader    bool    `json:"leader"`
	Time      float64 `json:"time,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// handleNodes serves GET /nodes: by default a JSON object keyed by node
// ID (the format gorqlite reads), with ?ver=2 {"nodes": [...]}; voters
// only unless ?nonvoters.
func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ver := q.Get("ver")
	if ver != "" && ver != "1" && ver != "2" {
		s.fail(w, badRequest("unknown /nodes version %.20q", ver), false)
		return
	}
	ctx, cancel := s.context(r, options{})
	defer cancel()
	ns, err := s.cfg.Backend.Nodes(ctx)
	if err != nil {
		s.fail(w, err, isSet(r, "pretty"))
		return
	}
	list := make([]nodeJSON, 0, len(ns))
	hidden := 0
	for _, n := range ns {
		if !n.Voter && !isSet(r, "nonvoters") {
			hidden++
			continue
		}
		list = append(list, nodeJSON(n))
	}
	if hidden > 0 {
		w.Header().Set(HiddenNonvotersHeader, strconv.Itoa(hidden))
	}
	if ver == "2" {
		out := map[string]any{"nodes": list}
		if hidden > 0 {
			out["hidden_nonvoters"] = hidden
		}
		writeJSON(w, http.StatusOK, out, isSet(r, "pretty"))
		return
	}
	m := make(map[string]nodeJSON, len(list))
	for _, n := range list {
		m[n.ID] = n
	}
	writeJSON(w, http.StatusOK, m, isSet(r, "pretty"))
}

// handleReady serves GET /readyz with rqlite's plain-text body.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	o, err := parseOptions(r.URL.Query())
	if err != nil {
		s.fail(w, err, false)
		return
	}
	ctx, cancel := s.context(r, o)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ready(ctx, ReadyOptions{NoLeader: isSet(r, "noleader"), Sync: isSet(r, "sync")}); err != nil {
		msg, redacted := clientMessage(err, http.StatusServiceUnavailable)
		if redacted {
			s.log.Warn("httpapi: not ready", "err", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "[+]node ok\n[-]not ready: %s\n", msg)
		return
	}
	if isSet(r, "noleader") {
		io.WriteString(w, "[+]node ok\n[+]store ok\n")
		return
	}
	io.WriteString(w, "[+]node ok\n[+]leader ok\n[+]store ok\n")
}

// decodeObject decodes a JSON object body into v.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 || body[0] != '{' {
		return nil, badRequest("body is not a JSON object")
	}
	if err := checkText(body); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	return body, nil
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	o, err := parseOptions(r.URL.Query())
	if err != nil {
		s.fail(w, err, false)
		return
	}
	var jr JoinRequest
	body, err := s.decodeObject(w, r, &jr)
	if err == nil && (jr.ID == "" || jr.Addr == "") {
		err = badRequest(`join needs "id" and "addr"`)
	}
	if err == nil {
		err = mayActOn(r, "join as", jr.ID)
	}
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	ctx, cancel := s.context(r, o)
	defer cancel()
	if err := s.cfg.Backend.Join(ctx, jr); err != nil {
		s.memberError(w, r, o, body, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	o, err := parseOptions(r.URL.Query())
	if err != nil {
		s.fail(w, err, false)
		return
	}
	var rr struct {
		ID string `json:"id"`
	}
	body, err := s.decodeObject(w, r, &rr)
	if err == nil && rr.ID == "" {
		err = badRequest(`remove needs "id"`)
	}
	if err == nil {
		err = mayActOn(r, "remove", rr.ID)
	}
	if err != nil {
		s.fail(w, err, o.pretty)
		return
	}
	ctx, cancel := s.context(r, o)
	defer cancel()
	if err := s.cfg.Backend.Remove(ctx, rr.ID); err != nil {
		s.memberError(w, r, o, body, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.ServeHTTP(w, r)
}

// isSet reports a flag query parameter: present without a value or with
// a true one.
func isSet(r *http.Request, name string) bool {
	vs, ok := r.URL.Query()[name]
	if !ok {
		return false
	}
	if len(vs) == 0 || vs[len(vs)-1] == "" {
		return true
	}
	v := strings.ToLower(vs[len(vs)-1])
	return v == "true" || v == "1"
}
