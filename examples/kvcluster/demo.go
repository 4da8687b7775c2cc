package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/kvcluster/kv"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/vfs"
)

// result is the demo's JSON line.
type result struct {
	Nodes        int              `json:"nodes"`
	Acked        int64            `json:"acked"`
	Unknown      int64            `json:"unknown"`
	Lost         int              `json:"lost"`
	Diverged     []string         `json:"diverged"`
	FailoverMS   int64            `json:"failover_ms"`
	JoinBytes    int64            `json:"join_bytes"`
	SharedBytes  int64            `json:"shared_bytes"`
	HeldBytes    int64            `json:"held_bytes"` // of shared_bytes, in cow's holding area
	OverlayBytes map[string]int64 `json:"overlay_bytes"`
	ElapsedMS    int64            `json:"elapsed_ms"`
	Errors       []string         `json:"errors,omitempty"`
}

func run(ctx context.Context, writes, clients int, say func(string, ...any)) (res result, err error) {
	t0 := time.Now()
	defer func() { res.ElapsedMS = time.Since(t0).Milliseconds() }()
	shared := vfs.NewMem()
	c, err := kv.StartLocal(ctx, kv.Options{Nodes: 3, Shared: shared})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			res.Errors = append(res.Errors, cerr.Error())
		}
	}()
	say("3 nodes up; writer %s", c.Writer(ctx).ID)

	// 1. Clients write distinct keys; the writer is killed halfway.
	var (
		mu       sync.Mutex
		acked    = map[string]string{}
		unknown  atomic.Int64
		ackedN   atomic.Int64
		done     atomic.Int64
		killedAt atomic.Int64 // unix nanos of the kill
		firstAck atomic.Int64 // unix nanos of the probe's ack after the kill
		wg       sync.WaitGroup
		kill     sync.Once
		writeErr error
	)
	per := writes / clients
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if done.Add(1) == int64(writes/2) {
					kill.Do(func() {
						w := c.Writer(ctx)
						if w == nil {
							return
						}
						say("killing the writer %s after %d writes", w.ID, writes/2)
						killedAt.Store(time.Now().UnixNano())
						if err := c.Kill(w.ID); err != nil {
							say("kill: %v", err)
						}
						// Failover time: from the kill to the first write
						// sent after it and acknowledged.
						if _, err := c.Write(ctx, kv.Put([]byte("probe"), []byte("after kill"))); err == nil {
							firstAck.Store(time.Now().UnixNano())
						}
					})
				}
				k, v := fmt.Sprintf("c%d/%06d", g, i), fmt.Sprintf("v%d", i)
				ops := []kv.Op{kv.Put([]byte(k), []byte(v))}
				if i%10 == 9 { // a batch: the put and a delete of an earlier key
					old := fmt.Sprintf("c%d/%06d", g, i-5)
					ops = append(ops, kv.Delete([]byte(old)))
				}
				_, err := c.Write(ctx, ops...)
				switch {
				case err == nil:
					ackedN.Add(1)
					mu.Lock()
					acked[k] = v
					if len(ops) == 2 {
						acked[string(ops[1].Key)] = ""
					}
					mu.Unlock()
				case errors.Is(err, raftcluster.ErrOutcomeUnknown):
					unknown.Add(1)
				default:
					mu.Lock()
					writeErr = errors.Join(writeErr, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if writeErr != nil {
		return res, writeErr
	}
	res.Unknown = unknown.Load()
	if ka, fa := killedAt.Load(), firstAck.Load(); ka != 0 && fa != 0 {
		res.FailoverMS = (fa - ka) / 1e6
	}
	w := c.Writer(ctx)
	say("%d writes acknowledged, %d outcome unknown; new writer %s; first write acknowledged %d ms after the kill",
		ackedN.Load(), res.Unknown, w.ID, res.FailoverMS)

	// 2. A fourth node joins: it reads shared storage as it is, and only
	// replays the log's tail into its overlay.
	last, err := c.Write(ctx, kv.Put([]byte("marker"), []byte("before join")))
	if err != nil {
		return res, err
	}
	n4, err := c.Add(ctx, "n4")
	if err != nil {
		return res, err
	}
	if err := c.WaitApplied(ctx, last); err != nil {
		return res, fmt.Errorf("waiting for every node to apply %d: %w", last, err)
	}
	res.JoinBytes = n4.Storage.OverlayBytes()
	say("n4 joined; its overlay holds %d bytes", res.JoinBytes)

	// 3. Verify: every acknowledged write on every live node, all nodes
	// equal to the writer.
	res.Nodes = len(c.Live())
	res.Diverged = []string{}
	res.Acked = ackedN.Load()
	var ref map[string]string
	res.OverlayBytes = map[string]int64{}
	for _, m := range c.Live() {
		kvs, _, err := m.Engine.Scan(nil, nil, 0)
		if err != nil {
			return res, fmt.Errorf("%s: scan: %w", m.ID, err)
		}
		got := make(map[string]string, len(kvs))
		for _, p := range kvs {
			got[string(p.Key)] = string(p.Value)
		}
		for k, v := range acked {
			if gv, ok := got[k]; (v == "" && ok) || (v != "" && gv != v) {
				res.Lost++
			}
		}
		if ref == nil {
			ref = got
		} else if !maps.Equal(ref, got) {
			res.Diverged = append(res.Diverged, m.ID)
		}
		if err := m.Engine.Check(); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", m.ID, err))
		}
		res.OverlayBytes[m.ID] = m.Storage.OverlayBytes()
	}
	slices.Sort(res.Diverged)
	if res.SharedBytes, err = vfs.TreeSize(shared, "."); err != nil {
		return res, err
	}
	if res.HeldBytes, err = vfs.TreeSize(shared, cow.HoldDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	say("verified %d nodes: %d acknowledged writes lost, %d nodes diverged; shared storage %d bytes (%d in the holding area)",
		res.Nodes, res.Lost, len(res.Diverged), res.SharedBytes, res.HeldBytes)
	return res, nil
}
