package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/holeycow/holeycow/stability"
)

func TestDirectory_lookup(t *testing.T) {
	root := t.TempDir()
	d, err := newDirectory(filepath.Join(root, "members"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Check(); err != nil {
			t.Error(err)
		}
	})
	m := memberInfo{ID: "n1", APIAddr: "http://127.0.0.1:4001", RaftAddr: "127.0.0.1:4002", StabilityAddr: "127.0.0.1:4004"}
	if err := d.publish(m); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.lookup("n1"); !ok || got != m {
		t.Fatalf("lookup(n1) = %+v, %v", got, ok)
	}
	if got := d.apiAddr("n1"); got != m.APIAddr {
		t.Errorf("apiAddr(n1) = %q", got)
	}
	// A file outside the directory, or one naming another ID, is not an
	// entry.
	if err := os.WriteFile(filepath.Join(root, "x.json"), []byte(`{"id":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "members", "n2.json"), []byte(`{"id":"n1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "x", "n2", ".tmp", "a/b"} {
		if got, ok := d.lookup(id); ok {
			t.Errorf("lookup(%q) = %+v", id, got)
		}
	}
	// The transport resolves a peer without an address through it.
	var dialed stability.Peer
	tr := resolvingTransport{inner: dialFunc(func(p stability.Peer) (stability.Conn, error) { dialed = p; return nil, nil }), dir: d}
	if _, err := tr.Dial(stability.Peer{ID: "n1"}); err != nil || dialed.Addr != m.StabilityAddr {
		t.Errorf("Dial(n1 without address) dialed %+v, %v", dialed, err)
	}
	if _, err := tr.Dial(stability.Peer{ID: "n1", Addr: "10.0.0.1:1"}); err != nil || dialed.Addr != "10.0.0.1:1" {
		t.Errorf("Dial(n1 with address) dialed %+v, %v", dialed, err)
	}
	if _, err := tr.Dial(stability.Peer{ID: "n9"}); err == nil {
		t.Error("Dial(unknown peer without address) succeeded")
	}
}

type dialFunc func(stability.Peer) (stability.Conn, error)

func (f dialFunc) Dial(p stability.Peer) (stability.Conn, error) { return f(p) }
