package server_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/holeycow/holeycow/vfs/vfstest"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

var linSeed = flag.Uint64("seed", 0, "seed of TestServe_glusterLinearizable's clients (0: random)")

// regOp is a put or get of one register (a row of kv) over HTTP.
type regOp struct {
	put   bool
	key   int
	value int64 // put: the value written; get: the value read (0: absent)
}

// regModel is a register per key: a put sets it, a get returns it (0
// while absent).
var regModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			by[op.Input.(regOp).key] = append(by[op.Input.(regOp).key], op)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regOp)
		if in.put {
			return true, in.value
		}
		return output.(int64) == state.(int64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regOp)
		if in.put {
			return fmt.Sprintf("put(%d, %d)", in.key, in.value)
		}
		return fmt.Sprintf("get(%d) -> %d", in.key, output.(int64))
	},
}

// regClients runs n clients of random puts and linearizable gets against
// random nodes of *nodes until stop, recording the history: a put with an
// unknown outcome (error, timeout, node stopped) returns at infinity, one
// whose connection was refused (never sent) is dropped, as is a failed
// get. After a failure a client waits a little before its next request.
// It returns the history and the counts of acknowledged puts and
// answered gets.
func regClients(c *procCluster, nodes *atomic.Pointer[[]*proc], n int, seed uint64, stop <-chan struct{}) (func() ([]porcupine.Operation, int, int), *sync.WaitGroup) {
	var (
		mu         sync.Mutex
		ops        []porcupine.Operation
		puts, gets int
		wg         sync.WaitGroup
	)
	start := time.Now()
	now := func() int64 { return time.Since(start).Nanoseconds() }
	for id := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(id)))
			backoff := time.NewTicker(100 * time.Millisecond)
			defer backoff.Stop()
			failed := false
			for seq := int64(1); ; seq++ {
				if failed {
					select {
					case <-stop:
						return
					case <-backoff.C:
					}
				}
				select {
				case <-stop:
					return
				default:
				}
				ns := *nodes.Load()
				p := ns[rng.IntN(len(ns))]
				key := rng.IntN(3)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				call := now()
				if rng.IntN(2) == 0 {
					v := int64(id+1)<<32 | seq
					_, err := c.post(ctx, p, "/db/execute", []any{"INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", key, v})
					ret := now()
					failed = err != nil
					if errors.Is(err, syscall.ECONNREFUSED) {
						cancel()
						continue
					}
					if err != nil {
						ret = math.MaxInt64
					}
					mu.Lock()
					ops = append(ops, porcupine.Operation{ClientId: id, Input: regOp{put: true, key: key, value: v}, Output: int64(0), Call: call, Return: ret})
					if err == nil {
						puts++
					}
					mu.Unlock()
				} else {
					rs, err := c.post(ctx, p, "/db/query?level=linearizable", []any{"SELECT v FROM kv WHERE k = ?", key})
					ret := now()
					failed = err != nil
					if err == nil && len(rs) == 1 && len(rs[0].Values) <= 1 {
						var got int64
						if len(rs[0].Values) == 1 {
							got = int64(rs[0].Values[0][0].(float64))
						}
						mu.Lock()
						ops = append(ops, porcupine.Operation{ClientId: id, Input: regOp{key: key}, Output: got, Call: call, Return: ret})
						gets++
						mu.Unlock()
					}
				}
				cancel()
			}
		}()
	}
	return func() ([]porcupine.Operation, int, int) {
		mu.Lock()
		defer mu.Unlock()
		return append([]porcupine.Operation(nil), ops...), puts, gets
	}, &wg
}

// TestServe_glusterLinearizable: three serve processes, each with -shared
// on its own mount of one GlusterFS volume, under clients putting and
// reading registers (linearizable reads) through every node while the
// writer is killed (SIGKILL) and restarted, and then the next writer is
// stopped (SIGSTOP) past its lease and continued: porcupine finds the
// history linearizable. Two volumes: the coherent options, and the
// coherent volume options on mounts that keep the kernel page cache
// (serve drops a file's cached pages at each open; its self-check
// passes without direct-io-mode=enable).
func TestServe_glusterLinearizable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to see that a process is stopped")
	}
	t.Run("coherent", func(t *testing.T) {
		glusterLinearizable(t, gluster.Options{Mounts: 3, Coherent: true})
	})
	t.Run("pageCache", func(t *testing.T) {
		glusterLinearizable(t, gluster.Options{Mounts: 3, VolumeOptions: gluster.CoherentVolume,
			MountOptions: []string{"attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}})
	})
}

func glusterLinearizable(t *testing.T, o gluster.Options) {
	v := gluster.Start(t, o)
	if err := os.Mkdir(filepath.Join(v.Mounts[0], "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t)
	var all []*proc
	for i, m := range v.Mounts {
		p := c.add(fmt.Sprint("n", i+1))
		p.shared = filepath.Join(m, "shared")
		all = append(all, p)
	}
	c.start(all[0], "")
	c.start(all[1], all[0].url())
	c.start(all[2], all[0].url()+","+all[1].url())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.post(ctx, all[1], "/db/execute", "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var running atomic.Pointer[[]*proc]
	running.Store(&all)
	history, wg := regClients(c, &running, 4, vfstest.Seed(t, *linSeed), stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	// progress waits until the clients had k more acknowledged puts and
	// answered gets (at most 30s).
	progress := func(what string, k int) {
		t.Helper()
		_, p0, g0 := history()
		c.waitFor(30*time.Second, what, func() error {
			if _, p, g := history(); p < p0+k || g < g0+k {
				return fmt.Errorf("%d puts, %d gets since", p-p0, g-g0)
			}
			return nil
		})
	}
	progress("load before the faults", 20)
	w1, e1 := c.writer(1, all...)
	survivors := others(all, w1)
	running.Store(&survivors)
	c.signal(w1, syscall.SIGKILL)
	w2, e2 := c.writer(e1+1, survivors...)
	progress("load after SIGKILL of "+w1.id, 10)
	c.start(w1, "")
	running.Store(&all)
	progress("load after "+w1.id+"'s restart", 10)
	w2, e2 = c.writer(e2, all...)
	c.signal(w2, syscall.SIGSTOP)
	c.waitFor(5*time.Second, w2.id+" stopped", func() error {
		if !stopped(w2) {
			return fmt.Errorf("not stopped yet")
		}
		return nil
	})
	w3, e3 := c.writer(e2+1, others(all, w2)...)
	progress("load while "+w2.id+" is stopped", 10)
	c.signal(w2, syscall.SIGCONT)
	progress("load after "+w2.id+" continued", 10)
	close(stop)
	wg.Wait()
	ops, puts, gets := history()
	res, info := porcupine.CheckOperationsVerbose(regModel, ops, time.Minute)
	t.Logf("writers %s (epoch %d, killed), %s (epoch %d, stopped), %s (epoch %d); %d operations: %d acknowledged puts, %d answered gets; porcupine: %v",
		w1.id, e1, w2.id, e2, w3.id, e3, len(ops), puts, gets, res)
	switch res {
	case porcupine.Illegal:
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(regModel, info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		t.Fatal("history not linearizable")
	case porcupine.Unknown:
		t.Log("porcupine timed out: linearizability not decided")
	}
}
