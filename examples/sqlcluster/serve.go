package main

import (
	"os"

	"github.com/holeycow/holeycow/examples/sqlcluster/server"
)

// serveMain runs "sqlcluster serve": one node of a multi-process cluster
// with its HTTP API (see package server), until SIGINT or SIGTERM. It
// returns the exit code.
func serveMain(args []string) int { return server.Main(args, os.Stderr) }
