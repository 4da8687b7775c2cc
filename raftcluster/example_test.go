package raftcluster_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// A one-member cluster on the in-memory network: bootstrap, wait for the
// node to become the writer, replicate a command.
func Example() {
	net := clustertest.NewRaftNetwork(0)
	n, err := raftcluster.New(raftcluster.Config{
		ID:        "a",
		Transport: net.NewTransport("a"),
		Stores:    clustertest.NewStores(),
		Timeouts:  raftcluster.LANTimeouts(),
		Apply: func(index uint64, cmd []byte) []byte {
			return []byte(fmt.Sprintf("applied %q", cmd))
		},
	})
	if err != nil {
		panic(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Bootstrap(ctx); err != nil {
		panic(err)
	}
	sub := n.Subscribe(8)
	for ev := range sub.C() {
		if ev.Kind == raftcluster.EventWriterChanged {
			fmt.Println("writer:", ev.Member.ID, "epoch:", ev.Epoch)
			break
		}
	}
	sub.Unsubscribe()
	_, resp, err := n.Apply(ctx, []byte("hello"))
	fmt.Println(string(resp), err)
	// Output:
	// writer: a epoch: 1
	// applied "hello" <nil>
}

// Group commit: with Config.ApplyBatch, commands that Raft commits
// together reach the application in one call, which can then commit them
// in one transaction. Here sixteen concurrent Applies share a few calls.
func ExampleConfig_applyBatch() {
	net := clustertest.NewRaftNetwork(0)
	var mu sync.Mutex
	calls, entries := 0, 0
	n, err := raftcluster.New(raftcluster.Config{
		ID:        "a",
		Transport: net.NewTransport("a"),
		Stores:    clustertest.NewStores(),
		Timeouts:  raftcluster.LANTimeouts(),
		ApplyBatch: func(es []raftcluster.Entry) [][]byte {
			mu.Lock()
			defer mu.Unlock()
			calls++ // one transaction of the application
			entries += len(es)
			resps := make([][]byte, len(es))
			for i, e := range es {
				resps[i] = fmt.Appendf(nil, "applied %s at %d", e.Cmd, e.Index)
			}
			return resps
		},
	})
	if err != nil {
		panic(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Bootstrap(ctx); err != nil {
		panic(err)
	}
	if err := waitWriter(n); err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := n.Apply(ctx, fmt.Appendf(nil, "cmd%d", i)); err != nil {
				panic(err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	fmt.Println("entries:", entries, "fewer calls than entries:", calls < entries)
	// Output:
	// entries: 16 fewer calls than entries: true
}

// waitWriter waits for n to become the writer.
func waitWriter(n *raftcluster.Node) error {
	sub := n.Subscribe(8)
	defer sub.Unsubscribe()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case ev := <-sub.C():
			if ev.Kind == raftcluster.EventWriterChanged {
				return nil
			}
		case <-t.C:
			return fmt.Errorf("no writer within 10s")
		}
	}
}
