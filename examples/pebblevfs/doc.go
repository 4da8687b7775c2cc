// Package pebblevfs runs Pebble (github.com/cockroachdb/pebble/v2) on any
// vfs.FS: a directory (vfs.OS), memory (vfs.NewMem), a fault injector
// (errorfs), or one of package cow's writer and copier views.
//
// # Usage
//
//	db, err := pebble.Open("db", &pebble.Options{FS: pebblevfs.New(view)})
//
// New returns Pebble's vfs.FS. Pebble's names map to clean relative vfs
// paths: leading slashes go, "." and ".." are resolved, "" is the root, and
// a name that climbs out of the root gets ErrOutsideRoot.
//
// The caller must:
//
//  1. Give one Pebble instance at most each directory of one FS (Pebble's
//     LOCK file is the vfs.FS's Lock; on a cow copier it excludes that
//     copier's own engine only).
//  2. Close the Pebble instance before the FS's content changes under it
//     (a copier Reset, a reopening on shared storage), and reopen it after.
//  3. Not rely on Link sharing content: vfs.FS has no hard links, so Link
//     copies (see Files).
//
// # Files
//
// A vfs.File has no cursor; File keeps the one that Read and Write use.
// Create removes an existing file first, so that a File still open on it
// keeps its content, as a new inode would. Link copies the file and syncs
// the copy: Pebble links only immutable files (sstables in checkpoints and
// ingestion), for which a copy is as good. OpenDir returns a File whose
// Sync is the FS's SyncDir; Open on a directory does the same. ReuseForWrite
// renames and opens without truncation, as Pebble's WAL recycling expects.
// SyncTo and SyncData are vfs.SyncData (always a full sync). Preallocate
// and Prefetch do nothing, Fd is InvalidFd, GetDiskUsage returns Pebble's
// vfs.ErrUnsupported (Pebble then skips its disk-space checks), and every
// FileInfo's DeviceID is zero.
//
// # Errors
//
// Errors of the vfs.FS pass through unchanged: *fs.PathError values
// wrapping io/fs and vfs sentinels, which Pebble's oserror checks match.
// The adapter's own errors are *fs.PathError values wrapping ErrOutsideRoot
// or ErrDirectory (a read or write on a directory).
//
// # Caveats
//
// On a cow writer view each new file costs a stability round (Pebble
// creates files at every flush and compaction), and so do the removal and
// renaming of a file that was there when the copiers last reset; a file
// created since is stable as a whole, so its appends (the WAL's) and its
// removal cost none. On a copier a removed or renamed file is copied whole
// into the overlay: see package cow.
//
// # Concurrency
//
// FS is safe for concurrent use. A File's positional calls are too; Read
// and Write share its cursor under a mutex. Close must not race with other
// calls on the same File.
package pebblevfs
