package raftcluster_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/clustertest"
)

// gcStorage reports a settable overlay size; Reset drops it to zero after
// the test lets it go, and counts how many resets run at once
// cluster-wide.
type gcStorage struct {
	recStorage
	overlay  atomic.Int64
	running  *atomic.Int32
	maxSeen  *atomic.Int32
	release  chan struct{}
	resetsMu *sync.Mutex
	resetLog *[]string
}

func (g *gcStorage) OverlayBytes() int64 { return g.overlay.Load() }

func (g *gcStorage) Reset(ctx context.Context, epoch uint64, w raftcluster.Member) error {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		m := g.maxSeen.Load()
		if n <= m || g.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	g.resetsMu.Lock()
	*g.resetLog = append(*g.resetLog, g.id)
	g.resetsMu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.overlay.Store(0)
	return g.recStorage.Reset(ctx, epoch, w)
}

func TestNode_resetSlot_oneAtATime(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var running, maxSeen atomic.Int32
		var mu sync.Mutex
		var resetLog []string
		release := make(chan struct{})
		stores := map[string]*gcStorage{}
		const threshold = 8 << 20
		c := clustertest.New(t, clustertest.Options{Nodes: 4,
			Storage: func(id string) raftcluster.Storage {
				g := &gcStorage{recStorage: recStorage{id: id}, running: &running, maxSeen: &maxSeen,
					release: release, resetsMu: &mu, resetLog: &resetLog}
				stores[id] = g
				return g
			},
			Configure: func(cfg *raftcluster.Config) {
				cfg.ResetThreshold = threshold
				cfg.ReportInterval = 50 * time.Millisecond
			}})
		allVoters(c, 4)
		w, _ := c.Writer()
		sub := c.Node(w).Subscribe(64)
		defer sub.Unsubscribe()
		var copiers []string
		for _, id := range c.IDs() {
			if id != w {
				copiers = append(copiers, id)
				stores[id].overlay.Store(threshold + 1<<20)
			}
		}
		// Let two resets go, one after the other; the third stays blocked.
		holder := ""
		started, done := 0, 0
		deadline := time.After(20 * time.Second)
		for done < len(copiers) {
			select {
			case ev := <-sub.C():
				switch ev.Kind {
				case raftcluster.EventResetStarted:
					if ev.Initial {
						continue
					}
					if holder != "" {
						t.Fatalf("%s got the reset slot while %s holds it", ev.Member.ID, holder)
					}
					holder = ev.Member.ID
					started++
					release <- struct{}{}
				case raftcluster.EventResetDone:
					if ev.Member.ID != holder {
						t.Fatalf("ResetDone from %s, holder %s", ev.Member.ID, holder)
					}
					holder = ""
					done++
				}
			case <-deadline:
				t.Fatalf("resets: started %d done %d log %v", started, done, resetLog)
			}
		}
		if maxSeen.Load() != 1 {
			t.Fatalf("%d resets ran at once", maxSeen.Load())
		}
		if sub.Dropped() != 0 {
			t.Fatalf("dropped %d events", sub.Dropped())
		}
		// Generations moved for each reset copier, and the writer was told.
		st := c.Node(w).State()
		for _, id := range copiers {
			m, _ := st.Member(id)
			if m.OverlayBytes >= threshold {
				t.Errorf("%s overlay %d after reset", id, m.OverlayBytes)
			}
		}
	})
}
