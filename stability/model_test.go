package stability_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// tlsNode is a copier behind real loopback TCP with mutual TLS.
type tlsNode struct {
	id    string
	view  *cow.View
	resp  *stability.Responder
	model map[string]string // shared state at its last join + its own ops
}

// tlsCluster is a writer and copiers, each with its own gRPC server.
type tlsCluster struct {
	shared  *vfs.MemFS
	writer  *cow.View
	coord   *stability.Coordinator
	wpeer   stability.Peer
	copiers []*tlsNode
	model   map[string]string // the writer's (shared) state
	stops   []func()
}

func newTLSCluster(t *rapid.T, tb testing.TB, ca *stabilitytest.CA, n int) *tlsCluster {
	lease := 10 * time.Second // no lapse in a test that takes well under that per step
	c := &tlsCluster{shared: vfs.NewMem(), model: map[string]string{}}
	coord, err := stability.NewCoordinator(stability.Config{ID: "w", Transport: transport(tb, ca, "w", ca, ca.Pool), Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	c.coord = coord
	w, err := cow.NewWriter(c.shared, coord, cow.Options{BlockSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	c.writer = w
	coord.SetWriter(w)
	wmux := &stability.Mux{}
	wmux.SetCoordinator(coord)
	addr, stop := startServer(tb, ca, "w", wmux, nil)
	c.stops = append(c.stops, stop)
	c.wpeer = stability.Peer{ID: "w", Addr: addr}
	var peers []stability.Peer
	for i := range n {
		id := fmt.Sprintf("c%d", i+1)
		v, err := cow.NewCopier(c.shared, cow.Options{BlockSize: 512})
		if err != nil {
			t.Fatal(err)
		}
		r, err := stability.NewResponder(stability.ResponderConfig{ID: id, View: v, Transport: transport(tb, ca, id, ca, ca.Pool), Lease: lease})
		if err != nil {
			t.Fatal(err)
		}
		mux := &stability.Mux{}
		mux.SetResponder(r)
		addr, stop := startServer(tb, ca, id, mux, nil)
		c.stops = append(c.stops, stop)
		peers = append(peers, stability.Peer{ID: id, Addr: addr})
		c.copiers = append(c.copiers, &tlsNode{id: id, view: v, resp: r})
	}
	if err := coord.SetCopiers(1, 1, peers); err != nil {
		t.Fatal(err)
	}
	for _, cn := range c.copiers {
		c.join(t, cn)
	}
	return c
}

func (c *tlsCluster) join(t *rapid.T, n *tlsNode) {
	// A join can fail on a transient network error (this machine may be
	// loaded); the caller retries, as raftcluster does.
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = n.resp.Join(ctx, c.wpeer)
		cancel()
		if err == nil {
			n.model = maps.Clone(c.model)
			return
		}
		t.Logf("join %s: %v (retrying)", n.id, err)
	}
	t.Fatalf("join %s: %v", n.id, err)
}

func (c *tlsCluster) close(t *rapid.T) {
	errs := []error{c.coord.Check(), c.writer.Check()}
	for _, n := range c.copiers {
		errs = append(errs, n.resp.Check(), n.view.Check())
	}
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
	c.coord.Close()
	for _, n := range c.copiers {
		n.resp.Close()
	}
	for _, stop := range c.stops {
		stop()
	}
}

// apply runs one operation on fsys and on its model m, and checks that
// both agree on whether it failed.
func apply(t *rapid.T, fsys vfs.FS, m map[string]string, op fileOp) {
	old, exists := m[op.name]
	var err error
	switch op.kind {
	case "write":
		var f vfs.File
		if f, err = fsys.Open(op.name, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
			_, err = f.WriteAt(op.data, op.off)
			err = errors.Join(err, f.Close())
		}
		b := []byte(old)
		if end := op.off + int64(len(op.data)); end > int64(len(b)) {
			b = append(b, make([]byte, end-int64(len(b)))...)
		}
		copy(b[op.off:], op.data)
		m[op.name] = string(b)
	case "truncate":
		var f vfs.File
		if f, err = fsys.Open(op.name, os.O_RDWR, 0); err == nil {
			err = errors.Join(f.Truncate(op.off), f.Close())
		}
		if exists {
			b := []byte(old)
			if op.off <= int64(len(b)) {
				b = b[:op.off]
			} else {
				b = append(b, make([]byte, op.off-int64(len(b)))...)
			}
			m[op.name] = string(b)
		}
	case "remove":
		err = fsys.Remove(op.name)
		delete(m, op.name)
	}
	if exists || op.kind == "write" {
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v on a missing file: %v, want ErrNotExist", op, err)
	}
}

type fileOp struct {
	kind string
	name string
	off  int64
	data []byte
}

func genOp(t *rapid.T) fileOp {
	op := fileOp{
		kind: rapid.SampledFrom([]string{"write", "write", "truncate", "remove"}).Draw(t, "kind"),
		name: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "name"),
		off:  rapid.Int64Range(0, 2000).Draw(t, "off"),
	}
	if op.kind == "write" {
		op.data = []byte(rapid.StringN(1, 600, -1).Draw(t, "data"))
	}
	return op
}

func checkModel(t *rapid.T, who string, fsys vfs.FS, m map[string]string) {
	got := snapshot(fsys)
	if !maps.Equal(got, m) {
		keys := slices.Sorted(maps.Keys(got))
		t.Fatalf("%s: view differs from its model: files %v, model %v", who, keys, slices.Sorted(maps.Keys(m)))
	}
}

// TestGRPCTransport_model checks a writer view and 1-3 copier views, with
// the copiers behind loopback TCP with mutual TLS, against a model: every
// copier view must equal the shared state at its last join plus its own
// operations (invariant 1), whatever the writer does; the writer's view
// must equal the shared model.
func TestGRPCTransport_model(t *testing.T) {
	ca := stabilitytest.NewCA(t)
	tb := t
	rapid.Check(t, func(t *rapid.T) {
		c := newTLSCluster(t, tb, ca, rapid.IntRange(1, 3).Draw(t, "copiers"))
		defer c.close(t)
		t.Repeat(map[string]func(*rapid.T){
			"writer": func(t *rapid.T) {
				apply(t, c.writer, c.model, genOp(t))
			},
			"copier": func(t *rapid.T) {
				n := rapid.SampledFrom(c.copiers).Draw(t, "copier")
				apply(t, n.view, n.model, genOp(t))
			},
			"reset": func(t *rapid.T) {
				c.join(t, rapid.SampledFrom(c.copiers).Draw(t, "copier"))
			},
			"": func(t *rapid.T) {
				checkModel(t, "writer", c.writer, c.model)
				for _, n := range c.copiers {
					checkModel(t, n.id, n.view, n.model)
				}
			},
		})
	})
}
