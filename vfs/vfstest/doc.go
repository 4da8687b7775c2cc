// Package vfstest checks that a vfs.FS behaves as package vfs documents.
//
// Every FS in holeycow (the OS and memory file systems, the errorfs
// wrapper, cow's writer and copier views) runs this suite in its tests, so
// that an engine sees the same semantics whichever FS it is given.
//
// # Usage
//
//	func TestMyFS(t *testing.T) {
//		vfstest.TestFS(t, func(tb testing.TB) vfs.FS { return NewMyFS(tb.TempDir()) })
//	}
//
// Check runs the same checks and returns the problems as one error (built
// with errors.Join), for callers that want to inspect them.
//
// The caller must:
//
//  1. Make newFS return a fresh, empty FS on every call: each check runs on
//     its own FS and expects List(".") to be empty at first.
//  2. Release what the FS holds with tb.Cleanup (or tb.TempDir), as Check
//     does not close FSs.
//  3. Run the suite with -race: the concurrency checks are meant for the
//     race detector as much as for their own assertions.
//
// # What is checked
//
// Open flags (O_CREATE, O_EXCL, O_TRUNC, access modes, unknown bits);
// ReadAt and WriteAt at offsets, at and past the end, over holes, with
// negative offsets; Truncate both ways; Size, Sync and SyncDir; Rename
// (over an existing file, of an open file); Remove (of an open file, of a
// non-empty directory); Stat; List (sorted, one level, kept up to date);
// MkdirAll; Lock exclusivity; use of a closed File; invalid paths on every
// method; concurrent I/O on one file and concurrent namespace changes; the
// package helpers (vfs.ReadFile, vfs.WriteFile, vfs.RemoveAll); and the
// optional interfaces (vfs.RemoveAller, vfs.DataSyncer) where the FS has
// them.
//
// Every call of every check also has its result's shape checked: each
// error must be an *fs.PathError with Op set and Path naming the call's
// path (a parent directory of it will do, and a File's errors name the
// path it was opened with), except that ReadAt reports the end of file
// with io.EOF itself; and ReadAt and WriteAt must return 0 <= n <= len(p)
// with an error whenever n < len(p).
//
// If the FS has a method Check() error, it is called after each check.
//
// # Caveats
//
// The suite tests semantics, not durability: that Sync returns nil says
// nothing of what a crash would keep. Crash behaviour is tested with the
// memory FS's CrashClone.
//
// A check that does not finish within 30 seconds is reported and
// abandoned; its goroutine, and any handles it holds, are leaked.
//
// # Concurrency
//
// Check and TestFS may be called from concurrent tests. The checks of one
// call run one after the other, each in a goroutine of its own; the
// concurrency checks use several goroutines on one FS.
package vfstest
