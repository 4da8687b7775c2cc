// Package errorfs injects errors and latency into a vfs.FS, to test how
// the code above it copes with a failing disk.
//
// WithErrors wraps an FS. Before each operation (an FS method, or a method
// of a file opened through the wrapper) it describes the operation as an
// Op and asks an Injector whether it fails. Injectors compose: OnIndex and
// Randomly decide, PathMatch, OnKinds and When filter, And and Or combine,
// Latency and RandomLatency slow ops down, Toggle arms and disarms at
// run time, and Quota fills the disk (ENOSPC past a size limit).
//
// # Usage
//
// The fault-simulation loop (SQLite's fault-sim, Pebble's TestErrors):
// run a workload, failing its i-th operation, for i = 0, 1, 2, ... until a
// run in which nothing failed; after every run, check that the failure was
// reported and that what is on disk is consistent. See the package
// example.
//
// The caller must:
//
//  1. Treat the error of a failed op like a real I/O error: the op did not
//     happen (except Close, which releases the handle anyway; see FS).
//  2. Bound every loop over i, in case the workload never stops reaching
//     the injector.
//  3. Check state through the inner FS (FS.Unwrap), not through the
//     wrapper, unless the checking is itself meant to be failed.
//
// # Errors
//
// An injected error is an *fs.PathError with Op set to the op kind
// ("write", "sync", ...) and Path to the op's path, wrapping what the
// injector returned: vfs.ErrInjected for this package's injectors. Errors
// of the inner FS pass through unchanged.
//
// # Caveats
//
// A failed op is all-or-nothing: the wrapper does not simulate a write
// that lands partly, or a sync that loses data. Use the memory FS's crash
// simulation for lost writes.
//
// OnIndex, Randomly and RandomLatency are deterministic for a given
// sequence of ops. With concurrent callers the sequence, and so which op
// fails, depends on scheduling.
//
// # Concurrency
//
// FS, its files and every Injector in this package are safe for concurrent
// use. A custom Injector must be too.
package errorfs
