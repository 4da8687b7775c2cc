// Package enginetest holds what the engine adapters' tests share: cow views
// over one shared FS for an engine to run on (Views, ViewsOn, ViewsWith,
// ViewsOnWith, Backends), and the cross-check that runs one seeded
// operation sequence on an engine over plain files and over cow views,
// with and without zero-copy removes (see CrossCheck).
//
// The caller must:
//
//  1. Pass the test's testing.TB: views are released in its Cleanup.
//  2. Close every engine opened on a view before the test ends.
//  3. Give CrossCheck an engine that reads its files for every read (no
//     block cache), and that does the work of a step within it where
//     the writer's and copier 1's engines would otherwise race (Pebble:
//     compactions only when asked, obsolete files deleted before Flush
//     and Compact return): the "held" subtest fails unless a copier
//     reads a file from the holding area.
//
// # Concurrency
//
// Each function is safe to call from concurrent tests; the values returned
// belong to the calling test.
package enginetest
