package server_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/holeycow/holeycow/examples/sqlcluster/server"
)

// Parse validates a serve command line and fills in the defaults: the
// stability protocol on the Raft port, the HTTP API's base URL.
func ExampleParse() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	cfg, err := server.Parse([]string{"-id", "n2", "-data", filepath.Join(dir, "d2"), "-shared", filepath.Join(dir, "sh"),
		"-raft-addr", "127.0.0.1:4012", "-http-addr", "127.0.0.1:4011", "-join", "http://127.0.0.1:4001"}, os.Stderr)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.ID, cfg.StabilityAddr, cfg.APIAddr(), cfg.Join)

	_, err = server.Parse([]string{"-data", filepath.Join(dir, "d"), "-shared", filepath.Join(dir, "sh"),
		"-raft-addr", "0.0.0.0:4002"}, os.Stderr)
	fmt.Println(err)
	// Output:
	// n2 127.0.0.1:4012 http://127.0.0.1:4011 [http://127.0.0.1:4001]
	// server: usage: -raft-addr "0.0.0.0:4002": the address is advertised to other nodes and must not be unspecified
}
