// Package localcluster runs a whole sqlcluster cluster in one process: N
// members of examples/sqlcluster/cluster on loopback TCP with mutual TLS
// (certificates minted in memory), sharing one directory (or one vfs.FS)
// as shared storage. It is the harness of the demo, of examples/bench and
// of the cluster package's tests; it is not part of the library, which
// does not import it (nor raftcluster/clustertest or
// stability/stabilitytest, which it uses).
//
// # Usage
//
//	c, _ := localcluster.Start(ctx, localcluster.Options{Nodes: 3})
//	defer c.Close()
//	r, _ := c.Execute(ctx, sqlnode.Request{Statements: []sqlnode.Statement{
//		{SQL: "INSERT INTO t(v) VALUES(?)", Params: []sqlnode.Param{{Value: "x"}}}}})
//	rs, _ := c.Nodes()[1].Query(ctx, cluster.LevelLinearizable, stmts)
//	rep, _ := c.Verify(ctx) // integrity and checksums of every member
//
// Start bootstraps n1 and has the others join; AddNode adds one more,
// Kill stops one as a crash would, Restart starts a killed one again
// (in-process storage only), Remove takes it out of the configuration.
// Every byte between members goes through a counting proxy in front of
// each member (TransportBytes; StabilityBytes is the part on the
// stability protocol's connections, told apart by their first byte,
// stability.MuxPreamble, sent before TLS), because raftcluster.NewTLSTransport opens
// its own listener (the member's real port is picked free and bound right
// away). Options.Storage picks the members' storage:
// cluster.Networked (stability over gRPC with mutual TLS on loopback, the
// default, DefaultStorage) or InProcess (the same raftcluster/netstorage
// with stability on a stabilitytest in-memory network).
//
// What the caller must do:
//
//  1. Close the Cluster (which closes every live member and removes the
//     directory Start made) before exiting.
//  2. Send writes through Execute (it follows the leader) or to the
//     member Leader returns; treat raftcluster.ErrOutcomeUnknown as
//     cluster's doc.go says.
//  3. Restart only members of a Cluster with StorageInProcess: with
//     networked storage a restarted member's stability endpoint would
//     move to a port that the cluster state does not know.
//  4. Run Verify when no writes are in flight (it compares checksums at
//     one read index; a member past it reports a divergence).
//  5. Give one InProcessOptions.Network to every member of one cluster
//     made with InProcess by hand (several StorageFuncs), and a network
//     of its own to each cluster.
//
// # Concurrency
//
// Cluster is safe for concurrent use; its members (cluster.Node) are as
// safe as cluster's doc.go says. The StorageFunc InProcess returns may be
// called from several goroutines; each Storage it makes is as safe as a
// raftcluster/netstorage Storage.
package localcluster
