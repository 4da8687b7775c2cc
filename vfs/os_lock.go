package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// osLocks is the in-process table of the files locked through any OSFS.
// flock(2) alone would do between processes, but the table makes a second
// Lock in the same process fail the same way on every system, whichever
// descriptor it comes through.
var osLocks struct {
	// mu guards held.
	sync.Mutex
	held map[fileKey]bool
}

// Lock implements FS. It opens (creating with mode 0644 if missing) name,
// then takes a non-blocking exclusive lock: in this process through a table
// shared by every OSFS, and between processes with flock(2) where the
// system has it. The lock belongs to the file, not to its name: after the
// file is removed or renamed, a Lock on the name locks a different file. A
// lock held elsewhere gets ErrLocked; a directory gets ErrIsDir.
func (o *OSFS) Lock(name string) (io.Closer, error) {
	if err := CheckPath("lock", name); err != nil {
		return nil, err
	}
	if name == "." {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrIsDir}
	}
	r, err := o.openRoot("lock", name)
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, osErr("lock", name, err)
	}
	key, err := keyOf(f, o.dir, name)
	if err != nil {
		f.Close()
		return nil, osErr("lock", name, err)
	}
	osLocks.Lock()
	if osLocks.held[key] {
		osLocks.Unlock()
		f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	if osLocks.held == nil {
		osLocks.held = make(map[fileKey]bool)
	}
	osLocks.held[key] = true
	osLocks.Unlock()
	if err := flock(f); err != nil {
		// Release the descriptor before the table entry, so that nobody
		// passes the table while this descriptor still holds a lock.
		f.Close()
		osLocks.Lock()
		delete(osLocks.held, key)
		osLocks.Unlock()
		return nil, osErr("lock", name, err)
	}
	return &osLock{f: f, key: key, name: name}, nil
}

// osLock is a lock taken by OSFS.Lock.
//
// Concurrency: Close is safe for concurrent use; only the first call
// releases the lock.
type osLock struct {
	f      *os.File
	key    fileKey
	name   string
	closed atomic.Bool
}

// Close releases the lock. A second Close returns fs.ErrClosed.
func (l *osLock) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: fs.ErrClosed}
	}
	// Unlock before closing: closing releases the flock too, but on FUSE
	// only asynchronously (see funlock).
	uerr := funlock(l.f)
	err := errors.Join(uerr, l.f.Close())
	osLocks.Lock()
	delete(osLocks.held, l.key)
	osLocks.Unlock()
	if err != nil {
		return osErr("unlock", l.name, err)
	}
	return nil
}
