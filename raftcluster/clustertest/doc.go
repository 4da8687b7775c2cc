// Package clustertest builds in-process raftcluster clusters on a
// RaftNetwork for tests: kill, restart, pause, partition and heal members,
// and wait for conditions with deadlines.
//
// # Usage
//
//	c := clustertest.New(t, clustertest.Options{Nodes: 3})
//	leader := c.Leader()
//	idx, _, err := leader.Apply(ctx, []byte("x"))
//	c.Kill(leader.ID())
//	c.WaitFor("new writer", 5*time.Second, func() bool { ... })
//
// # Time
//
// hashicorp/raft works inside a testing/synctest bubble on the in-memory
// transport: build the cluster inside synctest.Test and every Raft timeout
// runs on logical time (a failover takes a few virtual seconds and a few
// real milliseconds). Outside a bubble the same harness runs on real time.
// Either way it waits for conditions by polling them against a deadline,
// never by sleeping a fixed time, and its timeouts (TestTimeouts) are
// LAN-like, scaled for the race detector on a busy machine.
//
// # Concurrency
//
// A Cluster is used from the test goroutine; the recorders it installs are
// safe for concurrent use.
package clustertest
