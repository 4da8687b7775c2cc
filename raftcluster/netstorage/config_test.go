package netstorage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

func TestNew_badConfig(t *testing.T) {
	net := stabilitytest.NewNetwork(1)
	ok := netstorage.Config{ID: "a", Shared: vfs.NewMem(), Transport: net.Transport("a"), Engine: &engine{}}
	for name, edit := range map[string]func(c *netstorage.Config){
		"no ID":          func(c *netstorage.Config) { c.ID = "" },
		"no Shared":      func(c *netstorage.Config) { c.Shared = nil },
		"no Transport":   func(c *netstorage.Config) { c.Transport = nil },
		"no Engine":      func(c *netstorage.Config) { c.Engine = nil },
		"negative Lease": func(c *netstorage.Config) { c.Lease = -1 },
	} {
		c := ok
		edit(&c)
		if _, err := netstorage.New(c); !errors.Is(err, netstorage.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	s, err := netstorage.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// Storage calls before SetNode fail (the node retries them), and after
// Close with ErrClosed; neither opens a view.
func TestStorage_BecomeWriter_beforeSetNodeAndAfterClose(t *testing.T) {
	net := stabilitytest.NewNetwork(1)
	s, err := netstorage.New(netstorage.Config{ID: "a", Shared: vfs.NewMem(), Transport: net.Transport("a"), Engine: &engine{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.BecomeWriter(ctx, 1); !errors.Is(err, netstorage.ErrNoNode) {
		t.Fatalf("BecomeWriter: %v, want ErrNoNode", err)
	}
	if err := s.BecomeCopier(ctx, 1, raftcluster.Member{ID: "b"}); !errors.Is(err, netstorage.ErrNoNode) {
		t.Fatalf("BecomeCopier: %v, want ErrNoNode", err)
	}
	if s.View() != nil || s.FS() != nil || s.WriterEpoch() != 0 || s.OverlayBytes() != 0 {
		t.Fatal("a view was opened")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx, 1, raftcluster.Member{ID: "b"}); !errors.Is(err, netstorage.ErrClosed) {
		t.Fatalf("Reset after Close: %v, want ErrClosed", err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
