package stability_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/cow/cowtest"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// memModelNode is a copier of the in-process model cluster.
type memModelNode struct {
	id   string
	view *cow.View
	resp *stability.Responder
	s    *cowtest.Subject
}

// memModel is a writer and copiers over one MemFS, the copiers behind a
// stabilitytest.Network, each view driven by cowtest's operations.
type memModel struct {
	raw     *vfs.MemFS
	coord   *stability.Coordinator
	writer  *cow.View
	w       *cowtest.Subject
	copiers []*memModelNode
}

const memModelBS = 512

func newMemModel(t *rapid.T) *memModel {
	lease := 10 * time.Second // no lapse: the steps take well under that
	net := stabilitytest.NewNetwork(rapid.Uint64().Draw(t, "network seed"))
	m := &memModel{raw: vfs.NewMem()}
	model := cowtest.Setup(t, m.raw, memModelBS)
	coord, err := stability.NewCoordinator(stability.Config{ID: "w", Transport: net.Transport("w"), Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	m.coord = coord
	// Zero-copy removes or whole-file preservation: KindHold and
	// KindRelease cross the network too.
	hold := rapid.Bool().Draw(t, "hold removed")
	w, err := cow.NewWriter(m.raw, coord, cow.Options{BlockSize: memModelBS, HoldRemoved: hold})
	if err != nil {
		t.Fatal(err)
	}
	m.writer = w
	m.w = &cowtest.Subject{Name: "writer", FS: w, M: model, Durable: true}
	coord.SetWriter(w)
	wmux := &stability.Mux{}
	wmux.SetCoordinator(coord)
	net.Listen("w", wmux)
	var peers []stability.Peer
	for i := range rapid.IntRange(1, 3).Draw(t, "copiers") {
		id := fmt.Sprintf("c%d", i+1)
		v, err := cow.NewCopier(m.raw, cow.Options{BlockSize: memModelBS, HoldRemoved: hold})
		if err != nil {
			t.Fatal(err)
		}
		r, err := stability.NewResponder(stability.ResponderConfig{ID: id, View: v, Transport: net.Transport(id), Lease: lease})
		if err != nil {
			t.Fatal(err)
		}
		mux := &stability.Mux{}
		mux.SetResponder(r)
		net.Listen(id, mux)
		peers = append(peers, stability.Peer{ID: id, Addr: id})
		m.copiers = append(m.copiers, &memModelNode{id: id, view: v, resp: r, s: &cowtest.Subject{Name: id, FS: v, M: model.Clone()}})
	}
	if err := coord.SetCopiers(1, 1, peers); err != nil {
		t.Fatal(err)
	}
	for _, n := range m.copiers {
		m.join(t, n)
	}
	return m
}

// join resets copier n through the protocol (Responder.Join runs the
// writer's ResetCopier over the network); then n's view is the writer's,
// its handles and locks find their files by name, and a crash of shared
// storage keeps the namespace and every synced file.
func (m *memModel) join(t *rapid.T, n *memModelNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.resp.Join(ctx, stability.Peer{ID: "w", Addr: "w"}); err != nil {
		t.Fatalf("join %s: %v", n.id, err)
	}
	m.w.SyncOpen()
	n.s.Reset(m.w.M)
	cowtest.CheckFS(t, "shared after a crash after joining "+n.id, m.raw.CrashClone(vfs.CrashOptions{}), m.w.M, true)
}

func (m *memModel) pick(t *rapid.T) *cowtest.Subject {
	if rapid.Bool().Draw(t, "at writer") {
		return m.w
	}
	return rapid.SampledFrom(m.copiers).Draw(t, "copier").s
}

func (m *memModel) check(t *rapid.T) {
	m.w.Check(t)
	if err := m.writer.Check(); err != nil {
		t.Fatalf("writer Check: %v", err)
	}
	for _, n := range m.copiers {
		n.s.Check(t)
		if err := n.view.Check(); err != nil {
			t.Fatalf("%s Check: %v", n.id, err)
		}
	}
	cowtest.CheckFS(t, "shared", m.raw, m.w.M, false)
}

func (m *memModel) close(t *rapid.T) {
	errs := []error{m.coord.Check()}
	for _, n := range m.copiers {
		errs = append(errs, n.resp.Check())
	}
	m.w.CloseAll(t)
	for _, n := range m.copiers {
		n.s.CloseAll(t)
	}
	m.coord.Close()
	for _, n := range m.copiers {
		n.resp.Close()
	}
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}

// TestCoordinator_cowModel runs cow's namespace model (package cowtest:
// writes by name and through long-lived handles, creates, removes,
// renames of files and of directories with children, locks, syncs, and
// their failing variants) at a writer and 1-3 copiers, the copiers behind
// the in-process stabilitytest.Network and reset through the protocol with their
// handles and locks open. Every view is checked against its model after
// every step (invariant 1), and a crash clone after every join keeps what
// ResetCopier synced (invariant 5's prefix). Promotion is cow's and
// raftcluster's business: cow.TestView_model covers it.
func TestCoordinator_cowModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMemModel(t)
		defer m.close(t)
		acts := cowtest.Actions(m.pick, memModelBS)
		acts["join"] = func(t *rapid.T) { m.join(t, rapid.SampledFrom(m.copiers).Draw(t, "copier")) }
		acts["join again"] = acts["join"]
		acts["collect held"] = func(t *rapid.T) {
			if _, err := m.writer.CollectHeld(context.Background(), rapid.Bool().Draw(t, "all")); err != nil {
				t.Fatalf("CollectHeld: %v", err)
			}
		}
		acts[""] = m.check
		for range 3 { // as cow's model: the shapes take several steps
			t.Repeat(acts)
		}
	})
}
