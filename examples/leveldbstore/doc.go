// Package leveldbstore runs goleveldb (github.com/syndtr/goleveldb) on any
// vfs.FS: a directory (vfs.OS), memory (vfs.NewMem), a fault injector
// (errorfs), or one of package cow's writer and copier views.
//
// # Usage
//
//	st, err := leveldbstore.New(view, "db")
//	db, err := leveldb.Open(st, nil)
//	...
//	db.Close()
//	st.Close()
//
// The caller must:
//
//  1. Close the Storage after the database (leveldb.Open does not take
//     ownership of it), and before opening another Storage on the same
//     directory of the same FS (New takes the FS's lock on dir/LOCK; on a
//     cow copier that lock excludes the copier's own engine only).
//  2. Close the database and the Storage before the FS's content changes
//     under them (a copier Reset, a reopening on shared storage), and
//     reopen after.
//
// # Files
//
// File names are goleveldb's own (MANIFEST-000001, 000002.log,
// 000003.ldb, 000004.tmp), in the directory given to New, which New
// creates and makes durable up to the root. SetMeta writes CURRENT.tmp,
// syncs it, renames it over CURRENT and syncs the directory; GetMeta
// reads CURRENT and checks that the file it names exists. A file made by
// Create has its directory synced at its first Sync, so a synced journal
// or table cannot vanish in a crash (goleveldb's own file storage syncs
// the directory only for manifests). Readers keep the cursor that Read and
// Seek use; a vfs.File has none. Log discards its messages.
//
// # Errors
//
// Errors of the vfs.FS pass through unchanged (*fs.PathError values
// wrapping io/fs and vfs sentinels; os.IsNotExist matches a missing file,
// as goleveldb checks). GetMeta reports a missing CURRENT or manifest as an
// *fs.PathError wrapping fs.ErrNotExist and a CURRENT that names no file as
// a *storage.ErrCorrupted whose Err wraps ErrBadCurrent. After Close, calls
// return storage.ErrClosed; an invalid FileDesc gets storage.ErrInvalidFile.
//
// # Caveats
//
// On a cow writer view every file goleveldb creates costs a stability
// round, and so do the removal and renaming of a file that was there when
// the copiers last reset; a file created since is stable as a whole, so
// its appends (the journal's) and its removal cost none. On a copier a
// removed or renamed file is copied whole into the overlay: see package
// cow.
//
// # Concurrency
//
// Storage is safe for concurrent use. A Reader's ReadAt is too; its Read
// and Seek share a cursor under a mutex. A Writer belongs to one goroutine
// at a time.
package leveldbstore
