// Package netstorage is the raftcluster.Storage: each member has a
// cow.View over shared storage, and the stability protocol runs over a
// stability.Transport (package stability): a stability.Coordinator on the
// writer, a stability.Responder on each copier. Members on different
// hosts use stability's gRPC transport; members that share one process
// use the same Storage over an in-memory network
// (stabilitytest.Network), so the one role state machine serves both.
//
// How the replicated state maps onto the protocol:
//
//   - BecomeWriter starts a Coordinator for the epoch, fenced by
//     Node.Guard (a deposed writer sends nothing), promotes the copier
//     view through it (cow.View.Promote), then serves reset handshakes.
//     A copier view that may have missed a round (invalidated), or none,
//     is replaced by a writer view opened afresh on shared storage and
//     the engine is reopened on it.
//   - The Coordinator waits for every member that may hold a copier view:
//     all members except the previous writer and members added during
//     this term, which are admitted when they run their reset handshake
//     with this writer. Members the state lists as excluded are waited
//     for (or excluded again) too: one of them may have just reset with
//     the previous writer.
//   - The Coordinator's exclusions are recorded in the Raft log
//     (Node.Exclude), so the copier learns it must reset (Storage.Reset,
//     then Rejoin).
//   - BecomeCopier keeps a joined copier view and its lease (the new
//     writer's Coordinator renews it); an ex-writer or a new member opens
//     a fresh copier view and joins the writer (Responder.Join).
//   - Reset closes the engine, drops the overlay through the writer's
//     reset handshake, and reopens the engine (which catches up from the
//     log). An excluded member that is the Raft leader cannot become the
//     writer before it rejoins, and the state's writer is then deposed:
//     if the handshake fails, it installs a fresh copier view (refusing
//     reads until it joins) and lets the node rejoin, so that it becomes
//     the writer (with a writer view opened afresh).
//
// # Usage
//
//	st, _ := netstorage.New(netstorage.Config{ID: "a", Shared: shared,
//		Transport: grpcTransport, Engine: engine})
//	srv, _ := stability.NewGRPCServer(grpcConfig, st.Handler())
//	go srv.Serve(stabilityListener)
//	n, _ := raftcluster.New(raftcluster.Config{ID: "a", StabilityAddr: stabilityListener.Addr().String(),
//		Storage: st, ...})
//	st.SetNode(n)
//	...
//	n.Shutdown(); st.Close(); srv.Stop()
//
// Members that share one process share one stabilitytest.Network instead
// of gRPC servers:
//
//	snet := stabilitytest.NewNetwork(seed)
//	st, _ := netstorage.New(netstorage.Config{ID: "a", Shared: shared,
//		Transport: snet.Transport("a"), Engine: engine})
//	snet.Listen("a", st.Handler()) // StabilityAddr "a" (or "")
//
// What the caller must do:
//
//  1. Create one Storage per member and serve its Handler at the
//     member's raftcluster StabilityAddr, with a transport whose identity
//     is the member's ID (stability.GRPCConfig.ID and its certificate).
//  2. Call SetNode with the member's *raftcluster.Node right after
//     raftcluster.New (Storage calls fail with ErrNoNode until then; the
//     node retries them). Only tests pass another Node.
//  3. Implement Engine: Close releases every file of the
//     view; Open opens the engine on the view and catches up
//     (Node.ReadLog from the index stored in the database), holding off
//     ApplyFunc calls until it has. Route ApplyFunc to the engine, which
//     uses FS (the current view). An ApplyFunc whose write fails with
//     cow.ErrInvalidated or a fencing error must leave the command to the
//     next Open's catch-up.
//  4. Give every member the same Lease, and set raftcluster's
//     ExcludeAfter (if used) above it.
//  5. Shut the node down before Close.
//
// # Caveats
//
//   - A copier joins the writer its node names. A node that lags behind
//     the log names a writer that no longer mutates, which refuses the
//     handshake: the call fails, the engine stays closed, and the node's
//     next call joins the writer that mutates now.
//   - A role change whose engine fails to open returns the error and
//     keeps the view it reached; when the node calls again, it opens the
//     engine on that view.
//   - A copier's lease survives a writer failover only if the new writer's
//     Coordinator reaches it within Lease of the old writer's last
//     renewal; otherwise it is excluded and resets (its engine reopens).
//     Keep Lease above the failover time.
//   - A writer term's first rounds wait up to Lease+Margin for a member
//     that is down but not known to be copier-less (a dead copier, or a
//     member the state lists as excluded).
//   - cow holds a view's locks across network rounds (Promote, and the
//     writer's side of a reset handshake). Inside a testing/synctest
//     bubble a goroutine blocked on a mutex stops logical time, so a
//     promotion that waits for a dead member's lease, or a handshake cut
//     by a partition, cannot time out there while an engine reads or
//     writes the view: test such cases on real time.
//   - A member admitted by its reset request may be excluded by the
//     Coordinator while its handshake runs (it answered "not joined");
//     such exclusions are not recorded in the log, since the reset brings
//     it back.
//
// # Concurrency
//
// The raftcluster.Storage methods are called by the node from one
// goroutine. Handler serves concurrent requests. FS, View, WriterEpoch,
// Stats, Check and Close are safe for concurrent use. A Storage runs the
// goroutines of its Coordinator or Responder, and one goroutine per
// exclusion being recorded.
package netstorage
