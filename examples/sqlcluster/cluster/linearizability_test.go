package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of the randomized tests (0: time-based)")
	seedCount = flag.Int("seeds", 2, "number of seeds TestLocal_linearizable runs (from -seed on)")
)

type kvInput struct {
	put   bool
	key   int
	value int64
}

type kvOutput struct {
	value int64
	ok    bool // the key exists
}

// kvModel is a register per key: put sets it, get returns it (absent at
// first).
var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).key
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return kvOutput{} },
	Step: func(state, input, output any) (bool, any) {
		st, in := state.(kvOutput), input.(kvInput)
		if in.put {
			return true, kvOutput{value: in.value, ok: true}
		}
		return output.(kvOutput) == st, st
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%d, %d)", in.key, in.value)
		}
		out := output.(kvOutput)
		return fmt.Sprintf("get(%d) -> %d %v", in.key, out.value, out.ok)
	},
}

type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// kvClient puts and gets random keys until stop. A put whose outcome is
// unknown (an error: timeout, leadership lost, node killed) is recorded
// with an infinite return time; a failed get is dropped (it had no
// effect).
func kvClient(ctx context.Context, c *localcluster.Cluster, h *history, id int, rng *rand.Rand, stop <-chan struct{}) {
	for seq := int64(1); ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		key := rng.IntN(4)
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if rng.IntN(2) == 0 {
			v := int64(id)<<32 | seq
			call := h.now()
			_, err := c.Execute(octx, req(stmt("INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", key, v)))
			ret := h.now()
			if err != nil {
				ret = math.MaxInt64
			}
			h.add(porcupine.Operation{ClientId: id, Input: kvInput{put: true, key: key, value: v}, Call: call, Output: kvOutput{}, Return: ret})
		} else {
			nodes := c.Nodes()
			n := nodes[rng.IntN(len(nodes))]
			call := h.now()
			rs, err := n.Query(octx, cluster.LevelLinearizable, []sqlnode.Statement{stmt("SELECT v FROM kv WHERE k = ?", key)})
			ret := h.now()
			if err == nil && rs[0].Error == "" {
				out := kvOutput{}
				if len(rs[0].Values) == 1 {
					out = kvOutput{value: rs[0].Values[0][0].(int64), ok: true}
				}
				h.add(porcupine.Operation{ClientId: id, Input: kvInput{key: key}, Call: call, Output: out, Return: ret})
			}
		}
		cancel()
	}
}

// TestLocal_linearizable checks with porcupine that puts (through the
// log) and linearizable gets (on any node) of a key-value table stay
// linearizable while the writer is killed and replaced and copiers reset.
func TestLocal_linearizable(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	for i := range *seedCount {
		s := seed + uint64(i)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Logf("seed %d (rerun with -seed=%d -seeds=1)", s, s)
			linearizableRun(t, s, localcluster.Options{Nodes: 3})
		})
	}
}

// TestLocal_linearizable_refresh is TestLocal_linearizable with copiers
// in refresh mode (one seed): gets on copiers refresh on demand, and the
// writer killed is replaced by a refresh-mode copier.
func TestLocal_linearizable_refresh(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	linearizableRun(t, seed, localcluster.Options{Nodes: 3, CopierMode: cluster.CopierRefresh})
}

func linearizableRun(t *testing.T, seed uint64, opts localcluster.Options) {
	rng := rand.New(rand.NewPCG(seed, 0))
	c := startTest(t, opts)
	ctx := testCtx(t, 60*time.Second)
	mustExec(t, ctx, c, stmt("CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v INTEGER)"))
	h := &history{start: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for id := range 5 {
		crng := rand.New(rand.NewPCG(rng.Uint64(), uint64(id)))
		wg.Add(1)
		go func() { defer wg.Done(); kvClient(ctx, c, h, id, crng, stop) }()
	}
	pause := func() {
		d := time.Duration(200+rng.IntN(300)) * time.Millisecond
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
		}
	}
	// Faults: two rounds of (copier reset, writer kill + replacement).
	for round := range 2 {
		pause()
		w, err := c.Writer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var copiers []*cluster.Node
		for _, n := range c.Nodes() {
			if n != w {
				copiers = append(copiers, n)
			}
		}
		cp := copiers[rng.IntN(len(copiers))]
		resets := cp.Stats().Resets
		if err := cp.RequestReset(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitFor(ctx, "reset", func() bool { return cp.Stats().Resets > resets }); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %s reset", round, cp.ID())
		pause()
		if err := c.Kill(w.ID()); err != nil {
			t.Fatal(err)
		}
		nw, err := c.Writer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(ctx, w.ID()); err != nil {
			t.Fatal(err)
		}
		added, err := c.AddNode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed writer %s, new writer %s, added %s", round, w.ID(), nw.ID(), added.ID())
	}
	pause()
	close(stop)
	wg.Wait()
	unknown, puts := 0, 0
	for _, op := range h.ops {
		if op.Input.(kvInput).put {
			puts++
			if op.Return == math.MaxInt64 {
				unknown++
			}
		}
	}
	t.Logf("%d operations (%d puts, %d with unknown outcome)", len(h.ops), puts, unknown)
	if len(h.ops) < 50 {
		t.Fatalf("only %d operations", len(h.ops))
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, 30*time.Second)
	switch res {
	case porcupine.Illegal:
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(kvModel, info, path)
		t.Fatalf("history is not linearizable (seed %d); visualization was at %s", seed, path)
	case porcupine.Unknown:
		t.Logf("porcupine timed out: linearizability not decided")
	}
}

// The checker must be able to fail: a read that returns an overwritten
// value after the overwrite was acknowledged is illegal; with the
// overwrite's outcome unknown (return time infinity) it is legal.
func TestKVModel_detectsStaleRead(t *testing.T) {
	put := func(c int, v int64, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: kvInput{put: true, key: 1, value: v}, Call: call, Output: kvOutput{}, Return: ret}
	}
	get := func(v int64, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: 2, Input: kvInput{key: 1}, Call: call, Output: kvOutput{value: v, ok: true}, Return: ret}
	}
	stale := []porcupine.Operation{put(0, 1, 0, 10), put(1, 2, 20, 30), get(1, 40, 50)}
	if porcupine.CheckOperations(kvModel, stale) {
		t.Error("stale read accepted")
	}
	unknown := []porcupine.Operation{put(0, 1, 0, 10), put(1, 2, 20, math.MaxInt64), get(1, 40, 50), get(2, 60, 70)}
	if !porcupine.CheckOperations(kvModel, unknown) {
		t.Error("a put of unknown outcome taking effect late rejected")
	}
}
