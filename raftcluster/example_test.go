package raftcluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
)

// A one-member cluster on the in-memory network: bootstrap, wait for the
// node to become the writer, replicate a command.
func Example() {
	net := raftcluster.NewMemNetwork(0)
	n, err := raftcluster.New(raftcluster.Config{
		ID:        "a",
		Transport: net.NewTransport("a"),
		Stores:    raftcluster.NewMemStores(),
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
