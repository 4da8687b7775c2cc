// Package stabilitytest helps test code that uses package stability: it
// mints a certificate authority and node certificates in memory, and
// Network is an in-process stability network (a stability.Transport per
// node) with message loss, delay and partitions.
//
// The caller must keep Network's fates reproducible by sending messages on
// each pair of nodes in the same order (the seed fixes each pair's stream).
//
// Concurrency: CA and Network are safe for concurrent use.
package stabilitytest
