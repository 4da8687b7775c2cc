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
// Callers must:
//
//  1. Use slash-separated, relative, clean paths ("db/main.db", never
//     "/db", "db/../x" or ""). Anything else gets fs.ErrInvalid.
//  2. Close every File and every lock they obtain.
//  3. Call Sync, and SyncDir on the parent directory after creating,
//     removing or renaming, when they need durability.
//
// # Errors
//
// Every error is an *fs.PathError with Op and Path set, wrapping a sentinel
// that errors.Is matches: the io/fs ones (fs.ErrNotExist, fs.ErrExist,
// fs.ErrClosed, fs.ErrInvalid) and those in errors.go (ErrLocked, ErrIsDir,
// ErrNotDir, ErrNotEmpty, ErrReadOnly, ErrWriteOnly, ErrCorrupt). Bad input
// returns an error, never a panic.
//
// # Concurrency
//
// All methods of FS and File are safe for concurrent use. See File for what
// concurrent reads and writes on one file guarantee.
//
// # Crash simulation
//
// The memory FS records which writes have been synced. Its CrashClone
// returns the state a machine could come back with after losing power:
// synced data survives, unsynced data survives only with the given
// probability.
package vfs
