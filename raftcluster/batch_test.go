package raftcluster_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// TestNode_ApplyBatch_groupCommit: with Config.ApplyBatch, concurrent
// Applies reach the application in runs of more than one entry, every
// member applies the same entries in the same order, and each Apply gets
// its own entry's response.
func TestNode_ApplyBatch_groupCommit(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string][]uint64{} // member -> indices applied, in order
		maxRun := 0
		c := clustertest.New(t, clustertest.Options{Nodes: 3, Configure: func(cfg *raftcluster.Config) {
			id := cfg.ID
			cfg.Apply = nil
			cfg.ApplyBatch = func(es []raftcluster.Entry) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				maxRun = max(maxRun, len(es))
				rs := make([][]byte, len(es))
				for i, e := range es {
					seen[id] = append(seen[id], e.Index)
					rs[i] = fmt.Appendf(nil, "%d:%s", e.Index, e.Cmd)
				}
				return rs
			}
		}})
		allVoters(c, 3)
		l := c.Leader()
		const writers, each = 16, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					cmd := fmt.Sprintf("w%d-%d", w, i)
					idx, resp, err := l.Apply(ctxT(t, 10*time.Second), []byte(cmd))
					if err == nil && string(resp) != fmt.Sprintf("%d:%s", idx, cmd) {
						err = fmt.Errorf("apply %s at %d: response %q", cmd, idx, resp)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		c.WaitFor("every member applied every entry", 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range c.IDs() {
				if len(seen[id]) < writers*each {
					return false
				}
			}
			return true
		})
		mu.Lock()
		defer mu.Unlock()
		for _, id := range c.IDs() {
			if !slices.IsSorted(seen[id]) || !slices.Equal(seen[id], seen[c.IDs()[0]]) {
				t.Fatalf("%s applied %v, %s applied %v", id, seen[id], c.IDs()[0], seen[c.IDs()[0]])
			}
		}
		if maxRun < 2 {
			t.Fatalf("largest run %d: no group commit", maxRun)
		}
		t.Logf("largest run: %d entries", maxRun)
	})
}

func TestNew_ApplyAndApplyBatch_refused(t *testing.T) {
	net := clustertest.NewRaftNetwork(time.Second)
	_, err := raftcluster.New(raftcluster.Config{ID: "a", Transport: net.NewTransport("a"), Stores: clustertest.NewStores(),
		Apply:      func(uint64, []byte) []byte { return nil },
		ApplyBatch: func([]raftcluster.Entry) [][]byte { return nil }})
	if !errors.Is(err, raftcluster.ErrInvalidConfig) {
		t.Fatalf("New with both Apply and ApplyBatch: %v, want ErrInvalidConfig", err)
	}
}
