//go:build !nocluster

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serveBinary builds ./examples/sqlcluster into dir once per run and
// returns its path.
func (e *env) serveBinary() (string, error) {
	if e.serveBin != "" {
		return e.serveBin, nil
	}
	bin := filepath.Join(e.dir, "sqlcluster")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(e.ctx, goTool, "build", "-o", bin, "github.com/holeycow/holeycow/examples/sqlcluster")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bench: go build examples/sqlcluster: %v\n%s", err, out.String())
	}
	e.serveBin = bin
	return bin, nil
}

// serveProc is one "sqlcluster serve" process.
type serveProc struct {
	id, data, http, raft, log string
	args                      []string
	cmd                       *exec.Cmd
	exited                    chan struct{}
}

func (p *serveProc) url() string { return "http://" + p.http }

// alive reports whether the process runs.
func (p *serveProc) alive() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// serveCluster is three "sqlcluster serve" processes on loopback sharing
// one -shared directory, driven through the HTTP API by one keep-alive
// client, as users do.
//
// Concurrency: the loads call do, post and counters concurrently; start,
// kill and close are for one goroutine.
type serveCluster struct {
	e      *env
	name   string
	bin    string
	dir    string
	blk    *blockDev // nil: bytes are counted by write_bytes
	shared string
	procs  []*serveProc
	tr     *http.Transport
	client *http.Client
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServe starts a 3-node cluster of serve processes with extra flags
// (every node gets them), the first bootstrapping and the others joining
// it, and waits until every node is ready. e's cleanup stack closes it.
func (e *env) startServe(name string, extra ...string) (*serveCluster, error) {
	bin, err := e.serveBinary()
	if err != nil {
		return nil, err
	}
	dir, err := e.subdir(name)
	if err != nil {
		return nil, err
	}
	var blk *blockDev
	if e.blockDevs {
		if blk, err = newBlockDev(dir); err != nil {
			return nil, err
		}
		e.defer_(blk.close) // after sc.close, pushed below
		dir = blk.mnt
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 64, 64
	sc := &serveCluster{e: e, name: name, bin: bin, dir: dir, blk: blk, shared: filepath.Join(dir, "shared"), tr: tr,
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if err := os.Mkdir(sc.shared, 0o700); err != nil {
		return nil, err
	}
	e.defer_(sc.close)
	for i := range 3 {
		p := &serveProc{id: fmt.Sprintf("n%d", i+1), data: filepath.Join(dir, fmt.Sprintf("data-n%d", i+1)),
			log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))}
		if p.http, err = freeAddr(); err != nil {
			return nil, err
		}
		if p.raft, err = freeAddr(); err != nil {
			return nil, err
		}
		p.args = []string{"serve", "-id", p.id, "-data", p.data, "-shared", sc.shared,
			"-raft-addr", p.raft, "-http-addr", p.http, "-debug", "-join-timeout", "60s"}
		if e.sc.SQLiteMode != "" {
			p.args = append(p.args, "-sqlite-mode", e.sc.SQLiteMode)
		}
		p.args = append(p.args, extra...)
		if i > 0 {
			p.args = append(p.args, "-join", sc.procs[0].url())
		}
		sc.procs = append(sc.procs, p)
		if err := sc.start(p); err != nil {
			return nil, err
		}
		if err := sc.waitReady(p, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// start launches p with its arguments (again, after a kill: it restarts
// as the same member from its -data).
func (sc *serveCluster) start(p *serveProc) error {
	logf, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(sc.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: start %s: %w", p.id, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(p.exited) }()
	return nil
}

// waitReady waits until p answers /readyz with 200.
func (sc *serveCluster) waitReady(p *serveProc, d time.Duration) error {
	_, err := pollEvery(sc.e.ctx, d, 20*time.Millisecond, func() (bool, error) {
		if !p.alive() {
			return false, fmt.Errorf("bench: %s exited: %v\n%s", p.id, p.cmd.ProcessState, tail(p.log, 3000))
		}
		resp, err := sc.client.Get(p.url() + "/readyz")
		if err != nil {
			return false, nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("bench: %s/%s not ready: %w\n%s", sc.name, p.id, err, tail(p.log, 3000))
	}
	return nil
}

// kill sends p SIGKILL and waits for it to exit.
func (sc *serveCluster) kill(p *serveProc) error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("bench: %s did not exit after SIGKILL", p.id)
	}
}

// close stops every process (SIGTERM, then SIGKILL after 10 s).
func (sc *serveCluster) close() error {
	for _, p := range sc.procs {
		if p.alive() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for _, p := range sc.procs {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			errs = append(errs, fmt.Errorf("bench: %s/%s did not stop on SIGTERM", sc.name, p.id))
		}
	}
	sc.tr.CloseIdleConnections()
	return errors.Join(errs...)
}

// leader returns the node that leads, as some live node's /nodes says.
func (sc *serveCluster) leader(ctx context.Context) (*serveProc, error) {
	var last error
	for _, p := range sc.procs {
		if !p.alive() {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/nodes", nil)
		resp, err := sc.client.Do(req)
		if err != nil {
			last = err
			continue
		}
		var nodes map[string]struct {
			Leader bool `json:"leader"`
		}
		err = json.NewDecoder(resp.Body).Decode(&nodes)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		for id, n := range nodes {
			if n.Leader {
				for _, q := range sc.procs {
					if q.id == id && q.alive() {
						return q, nil
					}
				}
			}
		}
		last = fmt.Errorf("bench: %s knows no live leader", p.id)
	}
	return nil, fmt.Errorf("bench: %s: no leader: %v", sc.name, last)
}

// waitLeader polls leader for up to d.
func (sc *serveCluster) waitLeader(ctx context.Context, d time.Duration) (*serveProc, error) {
	var l *serveProc
	_, err := pollEvery(ctx, d, 20*time.Millisecond, func() (bool, error) {
		var err error
		l, err = sc.leader(ctx)
		return err == nil, nil
	})
	return l, err
}

// follower returns a live node other than l.
func (sc *serveCluster) follower(l *serveProc) *serveProc {
	for _, p := range sc.procs {
		if p != l && p.alive() {
			return p
		}
	}
	return nil
}

// errFailed marks a request the cluster answered with a failure: a
// status other than 200, or an error in a result.
var errFailed = errors.New("bench: request failed")

// post sends body to url and checks the answer: 200 and no error in any
// result. A transport error is returned as is; a failed answer wraps
// errFailed.
func (sc *serveCluster) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := sc.client.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: %s", errFailed, resp.Status, firstBytes(b, 300))
	}
	// Results carry SQL errors as "error" fields.
	if bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("%w: %s", errFailed, firstBytes(b, 300))
	}
	return nil
}

// exec runs statements (rqlite's JSON form, idempotent: they may run
// twice) in one transaction through node p, or through the leader when p
// is nil, sending them again for up to a minute while the cluster fails
// them (no leader during an election, on a loaded machine).
func (sc *serveCluster) exec(ctx context.Context, p *serveProc, stmts ...any) error {
	b, err := json.Marshal(stmts)
	if err != nil {
		return err
	}
	return sc.retry(ctx, p, "/db/execute?transaction", b)
}

// retry posts body to path on p (the leader if nil) until it succeeds,
// for up to a minute.
func (sc *serveCluster) retry(ctx context.Context, p *serveProc, path string, body []byte) error {
	deadline := time.Now().Add(time.Minute)
	for {
		q := p
		if q == nil {
			var err error
			if q, err = sc.waitLeader(ctx, time.Until(deadline)); err != nil {
				return err
			}
		}
		err := sc.post(ctx, q.url()+path, body)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(50 * time.Millisecond) // a retry interval, not a wait for a condition
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// procCounters are what the kernel counted for a set of processes.
type procCounters struct {
	cpu        time.Duration // user + system
	writeBytes int64         // /proc/PID/io write_bytes
	devBytes   int64         // bytes the cluster's own block device received
	dev        bool          // devBytes was measured
}

func (a procCounters) sub(b procCounters) procCounters {
	return procCounters{cpu: a.cpu - b.cpu, writeBytes: a.writeBytes - b.writeBytes,
		devBytes: a.devBytes - b.devBytes, dev: a.dev && b.dev}
}

// add accumulates b, a reading of the same cluster, into a.
func (a *procCounters) add(b procCounters) {
	a.cpu += b.cpu
	a.writeBytes += b.writeBytes
	a.devBytes += b.devBytes
	a.dev = b.dev
}

// bytes is the bytes written to storage: what the block device received
// when the cluster has one (see blockDev), else the kernel's write_bytes.
func (a procCounters) bytes() int64 {
	if a.dev {
		return a.devBytes
	}
	return a.writeBytes
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// counters sums the counters of the live processes.
func (sc *serveCluster) counters() (procCounters, error) {
	var c procCounters
	for _, p := range sc.procs {
		if !p.alive() {
			continue
		}
		pc, err := readProc(p.cmd.Process.Pid)
		if err != nil {
			return c, err
		}
		c.cpu += pc.cpu
		c.writeBytes += pc.writeBytes
	}
	if sc.blk != nil {
		b, err := sc.blk.bytesWritten()
		if err != nil {
			return c, err
		}
		c.devBytes, c.dev = b, true
	}
	return c, nil
}

// readProc reads a process's CPU time (/proc/PID/stat) and bytes written
// to storage (/proc/PID/io).
func readProc(pid int) (procCounters, error) {
	var c procCounters
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return c, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(st, ')')
	f := strings.Fields(string(st[i+1:]))
	if len(f) < 13 {
		return c, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return c, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
	}
	c.cpu = time.Duration(ut+stime) * clockTick
	io, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return c, err
	}
	defer io.Close()
	s := bufio.NewScanner(io)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "write_bytes: "); ok {
			if c.writeBytes, err = strconv.ParseInt(v, 10, 64); err != nil {
				return c, fmt.Errorf("bench: /proc/%d/io: %w", pid, err)
			}
			return c, nil
		}
	}
	return c, fmt.Errorf("bench: /proc/%d/io: no write_bytes (%v)", pid, s.Err())
}

// metric reads one unlabelled counter or gauge from p's /metrics.
func (sc *serveCluster) metric(ctx context.Context, p *serveProc, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/metrics", nil)
	resp, err := sc.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("bench: %s: no metric %s (%v)", p.id, name, s.Err())
}

// profile fetches a CPU profile of p over the next d (net/http/pprof,
// served with -debug) into path.
func (sc *serveCluster) profile(p *serveProc, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	resp, err := sc.client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.url(), secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("bench: profile of %s: %s: %s", p.id, resp.Status, firstBytes(b, 200))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// pollEvery calls cond every interval until it is true or d has passed.
func pollEvery(ctx context.Context, d, interval time.Duration, cond func() (bool, error)) (time.Duration, error) {
	t0 := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return 0, err
		}
		if ok {
			return time.Since(t0), nil
		}
		if time.Since(t0) > d {
			return 0, fmt.Errorf("bench: condition not met within %v", d)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

func firstBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return "--- tail of " + filepath.Base(path) + " ---\n" + string(b)
}

// loadStats are what one load did.
type loadStats struct {
	ops, failed int64 // operations (rows for batches) acknowledged; requests failed
	requests    int64 // requests acknowledged
	elapsed     time.Duration
	firstErr    error
	mu          sync.Mutex
}

func (s *loadStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *loadStats) perSec() float64 { return float64(s.ops) / s.elapsed.Seconds() }
