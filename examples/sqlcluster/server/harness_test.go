package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The multi-process tests run the real binary, built once per test run.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds ./examples/sqlcluster once (skipped under -short).
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test: skipped under -short")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "sqlcluster-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "sqlcluster")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", binPath, "github.com/holeycow/holeycow/examples/sqlcluster")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one "sqlcluster serve" process.
type proc struct {
	id               string
	data, logPath    string
	mutLog           string
	http, raft, stab string
	shared           string // -shared if not the cluster's (the same directory through another mount)
	cmd              *exec.Cmd
	exited           chan struct{}
	extra            []string
	scheme           string // "" = http
}

func (p *proc) url() string {
	if p.scheme != "" {
		return p.scheme + "://" + p.http
	}
	return "http://" + p.http
}

// procCluster is a set of processes sharing one -shared directory.
type procCluster struct {
	t      *testing.T
	bin    string
	dir    string
	shared string
	procs  map[string]*proc
	order  []string
	client *http.Client
}

func newProcCluster(t *testing.T) *procCluster {
	bin := binary(t)
	dir := t.TempDir()
	c := &procCluster{t: t, bin: bin, dir: dir, shared: filepath.Join(dir, "shared"), procs: map[string]*proc{},
		client: &http.Client{Timeout: 5 * time.Second}}
	if err := os.Mkdir(c.shared, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range c.order {
			p := c.procs[id]
			if p.cmd != nil && p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGCONT)
				p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			for _, id := range c.order {
				b, _ := os.ReadFile(c.procs[id].logPath)
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("--- tail of %s's log ---\n%s", id, b)
			}
		}
	})
	return c
}

// add defines node id (with fresh HTTP and Raft ports, the Raft port
// carrying the stability protocol too, and its own -data) without
// starting it. Set p.stab before starting it to give stability a port of
// its own.
func (c *procCluster) add(id string, extra ...string) *proc {
	p := &proc{id: id, data: filepath.Join(c.dir, "data-"+id), logPath: filepath.Join(c.dir, id+".log"),
		mutLog: filepath.Join(c.dir, id+".mutations"),
		http:   freeAddr(c.t), raft: freeAddr(c.t), extra: extra}
	c.procs[id] = p
	c.order = append(c.order, id)
	return p
}

// start starts p (joining through join, if not empty) and waits until
// it reports ready and /readyz answers 200.
func (c *procCluster) start(p *proc, join string) {
	c.t.Helper()
	c.launch(p, join)
	c.waitFor(30*time.Second, p.id+" ready", func() error {
		select {
		case <-p.exited:
			return errStop{fmt.Errorf("%s exited: %v", p.id, p.cmd.ProcessState)}
		default:
		}
		resp, err := c.client.Get(p.url() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// launch starts p (joining through join, if not empty) without waiting.
func (c *procCluster) launch(p *proc, join string) {
	c.t.Helper()
	shared := c.shared
	if p.shared != "" {
		shared = p.shared
	}
	args := []string{"serve", "-id", p.id, "-data", p.data, "-shared", shared,
		"-raft-addr", p.raft, "-http-addr", p.http,
		"-mutation-log", p.mutLog, "-debug", "-log-level", "debug", "-join-timeout", "30s"}
	if join != "" {
		args = append(args, "-join", join)
	}
	if p.stab != "" {
		args = append(args, "-stability-addr", p.stab)
	}
	args = append(args, p.extra...)
	logf, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(p.exited) }()
}

// signal sends sig to p; after SIGKILL it waits for the exit.
func (c *procCluster) signal(p *proc, sig syscall.Signal) {
	c.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %v to %s: %v", sig, p.id, err)
	}
	if sig == syscall.SIGKILL {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			c.t.Fatalf("%s did not exit after SIGKILL", p.id)
		}
	}
}

// terminate sends p SIGTERM and waits (up to 30s) for a graceful exit
// with status 0.
func (c *procCluster) terminate(p *proc) {
	c.t.Helper()
	c.signal(p, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s did not exit within 30s of SIGTERM", p.id)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Fatalf("%s exit status after SIGTERM: %d", p.id, code)
	}
}

// errStop ends waitFor at once.
type errStop struct{ error }

// waitFor polls cond every 50ms until it returns nil, failing the test
// after d.
func (c *procCluster) waitFor(d time.Duration, what string, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		var stop errStop
		if errors.As(err, &stop) || time.Now().After(deadline) {
			c.t.Fatalf("waiting for %s (%v): %v", what, d, err)
		}
		<-tick.C
	}
}

type status struct {
	Store struct {
		NodeID string `json:"node_id"`
		Leader struct {
			NodeID string `json:"node_id"`
		} `json:"leader"`
		Raft struct {
			State        string `json:"state"`
			AppliedIndex uint64 `json:"applied_index"`
		} `json:"raft"`
	} `json:"store"`
	Holeycow struct {
		Writer  string `json:"writer"`
		Epoch   uint64 `json:"epoch"`
		DBIndex uint64 `json:"db_index"`
		Ready   bool   `json:"ready"`
	} `json:"holeycow"`
}

func (c *procCluster) status(p *proc) (status, error) {
	var s status
	resp, err := c.client.Get(p.url() + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("status: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

type dbResult struct {
	Error        string  `json:"error"`
	RowsAffected int64   `json:"rows_affected"`
	Values       [][]any `json:"values"`
}

// post sends a /db endpoint request and decodes the results; a non-200
// status or a result error is an error.
func (c *procCluster) post(ctx context.Context, p *proc, path string, stmts ...any) ([]dbResult, error) {
	body, _ := json.Marshal(stmts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s %s: %s: %s", p.id, path, resp.Status, b)
	}
	var out struct {
		Results []dbResult `json:"results"`
		Error   string     `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", p.id, path, err, b)
	}
	for _, r := range out.Results {
		if r.Error != "" {
			return out.Results, fmt.Errorf("%s %s: %s", p.id, path, r.Error)
		}
	}
	return out.Results, nil
}

// keys returns the k column of table kv, read on p at level.
func (c *procCluster) keys(p *proc, level string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := c.post(ctx, p, "/db/query?level="+url.QueryEscape(level), "SELECT k FROM kv")
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("%d results", len(rs))
	}
	out := map[string]bool{}
	for _, row := range rs[0].Values {
		out[fmt.Sprint(row[0])] = true
	}
	return out, nil
}

// checksum returns p's /debug/checksum at index.
func (c *procCluster) checksum(p *proc, index uint64) (string, error) {
	resp, err := c.client.Get(p.url() + "/debug/checksum?index=" + strconv.FormatUint(index, 10))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Checksum string `json:"checksum"`
		Error    string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s checksum: %s: %s", p.id, resp.Status, out.Error)
	}
	return out.Checksum, nil
}

// writer returns the member that every running node names as the writer,
// and its epoch, once that epoch is at least minEpoch.
func (c *procCluster) writer(minEpoch uint64, running ...*proc) (*proc, uint64) {
	c.t.Helper()
	var w string
	var epoch uint64
	c.waitFor(20*time.Second, "an agreed writer", func() error {
		w, epoch = "", 0
		for _, p := range running {
			s, err := c.status(p)
			if err != nil {
				return err
			}
			if s.Holeycow.Writer == "" || (w != "" && (s.Holeycow.Writer != w || s.Holeycow.Epoch != epoch)) {
				return fmt.Errorf("%s: writer %q epoch %d (others: %q, %d)", p.id, s.Holeycow.Writer, s.Holeycow.Epoch, w, epoch)
			}
			w, epoch = s.Holeycow.Writer, s.Holeycow.Epoch
		}
		if _, ok := c.procs[w]; !ok {
			return fmt.Errorf("unknown writer %q", w)
		}
		if epoch < minEpoch {
			return fmt.Errorf("writer %s at epoch %d, waiting for epoch %d", w, epoch, minEpoch)
		}
		return nil
	})
	return c.procs[w], epoch
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func others(all []*proc, not *proc) []*proc {
	var out []*proc
	for _, p := range all {
		if p != not {
			out = append(out, p)
		}
	}
	return out
}

func joinIDs(ps []*proc) string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.id)
	}
	return strings.Join(ids, ",")
}

// metrics returns p's /metrics samples without labels, by name.
func (c *procCluster) metrics(p *proc) (map[string]float64, error) {
	resp, err := c.client.Get(p.url() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") || strings.Contains(f[0], "{") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %v", line, err)
		}
		out[f[0]] = v
	}
	return out, nil
}

// nodeIDs returns the IDs that p's GET /nodes?nonvoters lists; voterIDs
// those of GET /nodes (voters only).
func (c *procCluster) nodeIDs(p *proc) ([]string, error) { return c.listNodes(p, "/nodes?nonvoters") }

// waitMembers waits (up to 30s) until p's GET /nodes?nonvoters lists n
// members.
func (c *procCluster) waitMembers(p *proc, n int) {
	c.t.Helper()
	c.waitFor(30*time.Second, fmt.Sprintf("%d members", n), func() error {
		ids, err := c.nodeIDs(p)
		if err == nil && len(ids) != n {
			err = fmt.Errorf("members %v", ids)
		}
		return err
	})
}

func (c *procCluster) voterIDs(p *proc) ([]string, error) { return c.listNodes(p, "/nodes") }

func (c *procCluster) listNodes(p *proc, path string) ([]string, error) {
	resp, err := c.client.Get(p.url() + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("nodes: %s", resp.Status)
	}
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
