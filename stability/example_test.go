package stability_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// A writer and a copier over one shared file system, connected in process.
// The copier keeps seeing the state at its join while the writer moves on.
func Example() {
	ctx := context.Background()
	shared := vfs.NewMem()
	if err := vfs.WriteFile(shared, "db", []byte("v1"), 0o644); err != nil {
		panic(err)
	}
	network := stabilitytest.NewNetwork(1)

	// The writer.
	coord, err := stability.NewCoordinator(stability.Config{ID: "w", Transport: network.Transport("w")})
	if err != nil {
		panic(err)
	}
	defer coord.Close()
	writer, err := cow.NewWriter(shared, coord, cow.Options{})
	if err != nil {
		panic(err)
	}
	coord.SetWriter(writer)
	var wmux stability.Mux
	wmux.SetCoordinator(coord)
	network.Listen("w", &wmux)

	// A copier.
	view, err := cow.NewCopier(shared, cow.Options{})
	if err != nil {
		panic(err)
	}
	resp, err := stability.NewResponder(stability.ResponderConfig{ID: "c", View: view, Transport: network.Transport("c")})
	if err != nil {
		panic(err)
	}
	defer resp.Close()
	var cmux stability.Mux
	cmux.SetResponder(resp)
	network.Listen("c", &cmux)

	if err := coord.SetCopiers(1, 1, []stability.Peer{{ID: "c", Addr: "c"}}); err != nil {
		panic(err)
	}
	if err := resp.Join(ctx, stability.Peer{ID: "w", Addr: "w"}); err != nil {
		panic(err)
	}

	if err := vfs.WriteFile(writer, "db", []byte("v2"), 0o644); err != nil {
		panic(err)
	}
	w, _ := vfs.ReadFile(writer, "db")
	c, _ := vfs.ReadFile(view, "db")
	fmt.Printf("writer reads %s, copier reads %s, rounds %d\n", w, c, coord.Stats().Rounds)
	// Output: writer reads v2, copier reads v1, rounds 1
}

// A CA kept in a file across restarts: minted once for ten years, written
// out with PEM, read back with LoadCA at each start to issue the node's
// certificate for the host names it listens on.
func ExampleLoadCA() {
	ca, err := stability.NewCAWithOptions("cluster CA", stability.CAOptions{Validity: 10 * 365 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	certPEM, keyPEM, err := ca.PEM()
	if err != nil {
		panic(err)
	}
	file := append(certPEM, keyPEM...) // what a node would write to ca.pem (mode 0600)

	// At a later start: the same bytes serve for both arguments.
	loaded, err := stability.LoadCA(file, file)
	if err != nil {
		panic(err)
	}
	cert, err := loaded.IssueWithOptions("n1", []*url.URL{stability.NodeURI("n1")},
		stability.IssueOptions{Hosts: []string{"db1.example"}, Validity: 30 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	id, _ := stability.NodeID(cert.Leaf)
	_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "db1.example"})
	fmt.Printf("node %s, names %v, verifies against the original CA: %v\n", id, cert.Leaf.DNSNames, err == nil)
	// Output: node n1, names [localhost db1.example], verifies against the original CA: true
}
