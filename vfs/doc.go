// Package vfs is the file system interface that every layer of holeycow and
// every engine adapter speaks.
//
// An engine (SQLite, Pebble, goleveldb) is linked to holeycow through this
// package alone: it opens files on an FS, and the FS it gets may be a plain
// directory (OS), memory (NewMem), a fault injector (package errorfs), or one
// of package cow's writer and copier views. No OS interception is involved.
//
// # Usage
//
// FS and File are deliberately small. A File has no cursor; it reads and
// writes at explicit offsets. Optional abilities are separate interfaces
// (DataSyncer, RemoveAller) with package helpers (SyncData, RemoveAll) that
// fall back when an implementation lacks them. ReadFile and WriteFile are
// conveniences built on the interface.
//
// Two implementations live here:
//
//   - OS(dir) is a directory on disk. Paths are resolved with os.Root, so
//     neither a path nor a symbolic link can lead outside dir. Lock uses
//     flock(2) and excludes other processes too; SyncData uses fdatasync(2)
//     on Linux.
//   - NewMem() is a file system in memory with POSIX semantics (names
//     point to inodes, so removed files stay usable while open), I/O counts
//     (Stats), and crash simulation (CrashClone).
//
// Callers must:
//
//  1. Use slash-separated, relative, clean paths ("db/main.db", never
//     "/db", "db/../x" or ""), with no NUL byte and no element longer than
//     MaxNameLen. Anything else gets fs.ErrInvalid.
//  2. Close every File and every lock they obtain.
//  3. Call Sync (or SyncData), and SyncDir on the parent directory after
//     creating, removing or renaming, when they need durability. MemFS's
//     CrashClone holds them to it.
//
// # Errors
//
// Every error is an *fs.PathError with Op and Path set, wrapping a sentinel
// that errors.Is matches: the io/fs ones (fs.ErrNotExist, fs.ErrExist,
// fs.ErrClosed, fs.ErrInvalid, fs.ErrPermission) and those in errors.go
// (ErrLocked, ErrIsDir, ErrNotDir, ErrNotEmpty, ErrReadOnly, ErrWriteOnly,
// ErrTooLarge, ErrCorrupt). Path is the FS path, never the path on disk.
// OSFS maps the system's errors to these sentinels; one that has no
// sentinel (EIO, ENOSPC) is wrapped as the system reported it. Bad input
// returns an error, never a panic. ReadAt returns io.EOF itself, unwrapped,
// as io.ReaderAt requires.
//
// # Crash simulation
//
// MemFS records which content of each file has been synced and which
// entries of each directory. CrashClone returns the state a machine could
// come back with after losing power: synced data and synced entries always
// survive; each unsynced write, truncation and namespace change survives
// with a given probability, chosen by a seed, so that a test can replay a
// crash exactly. Its documentation lists precisely what survives.
//
// # Caveats
//
//   - OSFS opens its directory on first use and keeps it open for its
//     lifetime (the descriptor is closed when the OSFS is garbage
//     collected). If the directory is renamed, the OSFS follows it.
//   - Lock is flock(2) on Linux, the BSDs and macOS; elsewhere it excludes
//     other Locks in the same process only. Across hosts, flock is only as
//     good as the network file system and its mount options make it.
//   - MemFS keeps a copy of every unsynced write until the file's next
//     Sync, and every namespace change until the next SyncDir of the
//     directories it touched: a file rewritten many times without Sync
//     costs memory in proportion to the bytes written. Files are limited to
//     MemMaxFileSize.
//   - Both FSs follow Linux where POSIX leaves a choice (os.O_TRUNC with
//     os.O_RDONLY truncates); Rename follows os.Rename and refuses to
//     replace a directory.
//
// # Concurrency
//
// All methods of FS and File are safe for concurrent use. See File for what
// concurrent reads and writes on one file guarantee. MemFS serializes
// namespace operations with one mutex; reads and writes take only the
// file's own lock.
package vfs
