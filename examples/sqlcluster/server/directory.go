package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/holeycow/holeycow/stability"
)

// memberInfo is one node's entry in the member directory.
type memberInfo struct {
	ID            string `json:"id"`
	APIAddr       string `json:"api_addr"`
	RaftAddr      string `json:"raft_addr"`
	StabilityAddr string `json:"stability_addr"`
}

// directory is the member directory in SharedDir/cluster/members: one JSON
// file per node with its HTTP API, Raft and stability addresses. The
// replicated state records members' Raft addresses but not their HTTP API
// addresses (needed to forward requests to the leader and to list members
// in /nodes), so each node publishes its own here at start and reads the
// others' when it needs them.
//
// Concurrency: safe for concurrent use; mu guards the cache.
type directory struct {
	dir string
	mu  struct {
		sync.Mutex
		cache map[string]cached
	}
}

type cached struct {
	info memberInfo
	at   time.Time
}

// directoryTTL bounds how long a looked-up entry is reused.
const directoryTTL = time.Second

func newDirectory(dir string) (*directory, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("server: member directory: %w", err)
	}
	d := &directory{dir: dir}
	d.mu.cache = make(map[string]cached)
	return d, nil
}

// publish writes (replaces) this node's entry atomically.
func (d *directory) publish(m memberInfo) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("server: member directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("server: member directory: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, m.ID+".json")); err != nil {
		return fmt.Errorf("server: member directory: %w", err)
	}
	return nil
}

// lookup returns id's entry (ok false if it has none or it is unreadable).
func (d *directory) lookup(id string) (memberInfo, bool) {
	if id == "" || filepath.Base(id) != id || id[0] == '.' {
		return memberInfo{}, false
	}
	d.mu.Lock()
	c, ok := d.mu.cache[id]
	d.mu.Unlock()
	if ok && time.Since(c.at) < directoryTTL {
		return c.info, true
	}
	b, err := os.ReadFile(filepath.Join(d.dir, id+".json"))
	var m memberInfo
	if err != nil || json.Unmarshal(b, &m) != nil || m.ID != id {
		return memberInfo{}, false
	}
	d.mu.Lock()
	d.mu.cache[id] = cached{info: m, at: time.Now()}
	d.mu.Unlock()
	return m, true
}

func (d *directory) apiAddr(id string) string {
	m, _ := d.lookup(id)
	return m.APIAddr
}

// resolvingTransport dials stability peers whose address the replicated
// state does not hold (a member added with an empty stability address) at
// the address the member directory gives.
type resolvingTransport struct {
	inner stability.Transport
	dir   *directory
}

var _ stability.Transport = resolvingTransport{}

func (t resolvingTransport) Dial(p stability.Peer) (stability.Conn, error) {
	if p.Addr == "" {
		m, ok := t.dir.lookup(p.ID)
		if !ok || m.StabilityAddr == "" {
			return nil, fmt.Errorf("server: no stability address known for node %q", p.ID)
		}
		p.Addr = m.StabilityAddr
	}
	return t.inner.Dial(p)
}

// Check verifies the cache: every entry is stored under its own ID.
func (d *directory) Check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.mu.cache {
		if c.info.ID != id {
			return fmt.Errorf("server: member directory: entry for %q cached under %q", c.info.ID, id)
		}
	}
	return nil
}
