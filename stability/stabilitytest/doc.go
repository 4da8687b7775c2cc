// Package stabilitytest helps test code that uses package stability: it
// mints a certificate authority and node certificates in memory, and
// Network is an in-process stability network (a stability.Transport per
// node) with message loss, delay and partitions. Members that share one
// process run netstorage over a Network outside tests too (in-process
// clusters), so the package does not import testing (TB stands for it).
//
// The caller must:
//
//  1. Keep Network's fates reproducible by sending messages on each pair
//     of nodes in the same order (the seed fixes each pair's stream).
//  2. Give the members of one cluster one Network, each node listening
//     at the address its peers dial (stability.Peer.Addr, or its ID).
//
// Concurrency: CA and Network are safe for concurrent use.
package stabilitytest
