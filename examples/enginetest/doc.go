// Package enginetest holds what the engine adapters' tests share: cow views
// over one shared FS for an engine to run on (Views, ViewsOn, ViewsWith,
// ViewsOnWith, Backends),
// and the cross-check that runs one seeded operation sequence on an engine
// over plain files and over cow views (see CrossCheck).
//
// The caller must:
//
//  1. Pass the test's testing.TB: views are released in its Cleanup.
//  2. Close every engine opened on a view before the test ends.
//
// # Concurrency
//
// Each function is safe to call from concurrent tests; the values returned
// belong to the calling test.
package enginetest
