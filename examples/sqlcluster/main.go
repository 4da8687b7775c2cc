// Command sqlcluster demonstrates a replicated SQLite database on one
// shared copy of its data: three nodes in this process on loopback TCP
// (Raft over mutual TLS with certificates minted in memory), shared
// storage in a temporary directory. It runs a bank-transfer and insert
// workload, kills the writer midway, garbage-collects a copier, adds a
// fourth node, then verifies every node (integrity, equal logical
// checksums at one log index, no acknowledged write lost) and prints a
// table and, last, one JSON line. It exits 1 if a check fails.
//
//	go run ./examples/sqlcluster
//
// "sqlcluster serve" runs one node of a multi-process cluster (package
// server); "sqlcluster check-shared DIR1 DIR2 [...]" checks that a shared
// directory, as seen through different mounts, is coherent enough for
// holeycow (vfs/sharedcheck); across hosts, "check-shared -agent ADDR DIR"
// on one and "check-shared -peer ADDR DIR" on the other.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "check-shared" {
		os.Exit(checkSharedMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	res, err := run(ctx, os.Stdout, demoOptions{Workload: 4 * time.Second, Accounts: 20, Clients: 4, FillerRows: 5000})
	if res != nil {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlcluster:", err)
		os.Exit(1)
	}
	if !res.OK() {
		os.Exit(1)
	}
}
