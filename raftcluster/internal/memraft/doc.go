// Package memraft is the in-process network of package raftcluster's
// tests: Raft RPCs over hashicorp/raft's in-memory transport and forwarded
// requests over function calls, with cut, isolated and dropping links. Package
// clustertest exposes it as RaftNetwork; package raftcluster wraps an
// Endpoint as a raftcluster.Transport (AsTransport).
//
// The caller must:
//
//  1. Close an Endpoint when its node is done (Node.Shutdown does).
//  2. Install a handler with Serve before other endpoints forward to it.
//
// Concurrency: Network and Endpoint are safe for concurrent use.
package memraft
