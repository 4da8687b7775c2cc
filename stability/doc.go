// Package stability carries the stability protocol of holeycow between
// processes: stability rounds from the writer to every copier, copier
// resets (garbage collection), writer epochs and copier leases. It knows
// nothing of Raft: its caller (raftcluster) tells it the epoch and who the
// copiers are.
//
// # The protocol
//
// The writer's cow view calls Coordinator.Stabilize before it mutates a
// region of shared storage that is not yet stable. The Coordinator sends
// the regions to every active copier at once and returns when each has
// acknowledged (or has been excluded, below). Each copier has its own link
// goroutine that sends one message at a time, one round per message (up
// to 16384 regions; larger calls are split). Batching is cow's: a writer
// view makes one Stabilize call at a time and collects the requests that
// arrive meanwhile into the next. A copier's Responder serves a round by
// calling its view's Preserve, which reads the old content from shared
// storage itself: no before-images travel on the wire.
//
// Every message carries the writer's epoch. A Responder remembers the
// newest epoch it has seen (from messages, or from ObserveEpoch) and
// refuses older ones with CodeStaleEpoch (ErrStaleEpoch). A writer that
// gets such an answer is deposed: its Stabilize calls fail from then on and
// its view does not mutate, so a deposed writer cannot collect
// acknowledgements.
//
// A copier resets (drops its overlay) through a handshake with the writer
// (Responder.Join, served by Coordinator.HandleReset): the writer quiesces
// its view (no mutation in flight, shared storage synced, stable set
// forgotten: cow.View.ResetCopier), the copier drops its overlay, then the
// writer resumes. The copier's new view is therefore the shared state at a
// point of the writer's mutation sequence (invariant 5). The writer stays
// quiesced at most Config.ResetTimeout. A fresh copier joins the same way;
// until then its view refuses reads (ErrNotJoined).
//
// # Leases
//
// A copier may miss rounds (partition, crash, loss), so it may serve reads
// only while it holds a lease, and the writer may stop waiting for it
// (exclude it) only once that lease has surely lapsed:
//
//   - The writer sends every copier a message at least every Heartbeat
//     (rounds, or empty heartbeats). Each message has a Seq, and carries
//     AckedSeq: the newest Seq whose acknowledgement the writer has
//     received from that copier.
//   - The copier notes the time it RECEIVED each message. When a message
//     with AckedSeq = s arrives, the copier's lease runs until
//     (its receipt time of message s) + Lease. The lease therefore starts
//     at the receipt of a message whose acknowledgement the writer is known
//     to have received.
//   - The writer excludes a copier only at (the time the writer RECEIVED
//     the newest acknowledgement) + Lease + Margin. The copier received
//     that message before the writer received its acknowledgement, so the
//     copier's lease ended first, by at least Margin, which covers the
//     difference of the two clocks' rates over one Lease.
//   - A message whose acknowledgement is lost, or one that arrives late,
//     never extends the lease. (This is why the lease counts from the
//     receipt of an acknowledged message and not of the newest one: a
//     delayed heartbeat would otherwise renew a lease that the writer has
//     already given up on.)
//   - A reset renews the lease too: it starts when the copier receives
//     the writer's FrameQuiesced, and the writer counts from when it
//     receives the copier's FrameDropped.
//   - When its lease lapses, the Responder invalidates the copier's view
//     (reads fail with cow.ErrInvalidated wrapping ErrLeaseExpired) until
//     the copier resets. A copier that answers CodeNotJoined is excluded at
//     once: its view already refuses reads.
//
// After excluding a copier, the Coordinator calls Config.OnExclude and
// never waits for that copier again until it completes a reset. A round
// waits for an unresponsive copier at most until its exclusion time, that
// is at most Lease+Margin after the last acknowledgement. Heartbeat must be
// at most Lease/3 so that a healthy copier's lease never lapses (a renewal
// needs a message and its successor).
//
// # Transports
//
// GRPCTransport and GRPCServer carry the messages over gRPC on TCP with
// mutual TLS (TLS 1.3 minimum), with a hand-written binary encoding (the
// internal package wire; no protobuf) and messages bounded by 4 MiB.
// Package stabilitytest's Network is an in-process transport for tests,
// with message loss, delay and partitions, deterministic under a seed and
// usable inside testing/synctest bubbles; it encodes every message too. A node's identity is
// the URI SAN holeycow://node/<ID> of its certificate (NodeURI, NodeID):
// the client accepts only a server whose certificate names the peer it
// dialed, the server accepts only client certificates from the cluster CA
// whose ID its Allow function admits, and a request whose claimed sender
// differs from the authenticated one is refused (CodeIdentity). A
// GRPCTransport writes MuxPreamble before each TLS handshake so that a
// port can carry the stability protocol next to another (raftcluster's
// TLSTransport serves both on the Raft port); GRPCServer accepts
// connections with or without it.
// CA mints a cluster CA and node certificates (NodeCert, IssueWithOptions
// for more host names); PEM and LoadCA keep it in a file across restarts.
// Package stabilitytest mints a CA and node certificates for tests.
//
// # Usage
//
// On the writer:
//
//	coord, _ := stability.NewCoordinator(stability.Config{ID: "a", Transport: tr, OnExclude: report})
//	view, _ := cow.NewWriter(shared, coord, cow.Options{})
//	coord.SetWriter(view)
//	mux.SetCoordinator(coord)                      // serve reset handshakes
//	coord.SetCopiers(epoch, generation, peers)     // on every membership change
//
// On a copier:
//
//	view, _ := cow.NewCopier(shared, cow.Options{})
//	resp, _ := stability.NewResponder(stability.ResponderConfig{ID: "b", View: view, Transport: tr})
//	mux.SetResponder(resp)                         // serve rounds
//	resp.Join(ctx, writerPeer)                     // before the first read; again to collect garbage
//
// The caller must:
//
//  1. Give the writer's Config.Lease a value at least every copier's
//     ResponderConfig.Lease, and Margin at least the largest clock-rate
//     difference over one Lease.
//  2. Use a fresh epoch for each writer term, and call SetCopiers with it
//     and an increasing generation on every membership change.
//  3. Stop a deposed writer's renewals before the next writer's
//     Coordinator starts counting: Close its Coordinator, or make its
//     Config.Fence fail, as soon as it may no longer be the writer, and
//     start the new writer's Coordinator only after the old one can no
//     longer send (e.g. after the old leader's lease). Call
//     Responder.ObserveEpoch when a copier learns of a new epoch.
//  4. Call Responder.Join before a copier's first read, after its lease
//     lapsed (reads fail with ErrLeaseExpired), and to collect garbage.
//     Close and reopen the engine around it.
//  5. Only remove a node from SetCopiers' membership once it no longer
//     serves reads from its copier view (it is stopped, or has been
//     excluded): removal stops the writer waiting for it at once.
//  6. Keep OnExclude short: it runs on the link's goroutine.
//  7. Close the Coordinator and Responders when done.
//
// # Caveats
//
//   - The lease argument assumes clocks whose rates differ by less than
//     Margin/Lease; it does not assume synchronized clocks.
//   - A copier that is excluded stays excluded until it resets, even if
//     SetCopiers lists it again.
//   - The in-process transport decides each message's fate from a
//     per-pair random stream, so a run is reproducible given the same
//     order of messages on each pair of nodes, not across all pairs.
//
// # Concurrency
//
// Coordinator, Responder, Mux, GRPCTransport and GRPCServer
// are safe for concurrent use. A Coordinator runs one goroutine per active
// copier; a Responder runs a lease timer. Stats may be read at any time.
package stability
