package raftcluster_test

import (
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

func TestSubscription_closedOnShutdown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := clustertest.New(t, clustertest.Options{Nodes: 1})
		sub := c.Node("n1").Subscribe(4)
		c.Kill("n1")
		deadline := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-sub.C():
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("subscription not closed by Shutdown")
			}
		}
	})
}
