package sqlitevfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

// lockTable implements SQLite's five lock levels (NONE, SHARED, RESERVED,
// PENDING, EXCLUSIVE) between the connections of one process, per file
// name. It never blocks: a lock that cannot be granted at once returns
// SQLITE_BUSY, and SQLite's busy handler retries.
//
// Concurrency: safe for concurrent use. The lock level of every handle is
// guarded by the table's mutex.
type lockTable struct {
	domain any    // key in registry.tables
	users  int    // registrations using the table; guarded by registry.mu
	shmDir string // WithSharedMemory's directory ("" = none)

	// mu guards every entry and every handle's level.
	mu struct {
		sync.Mutex
		files map[string]*lockEntry
	}
}

// lockEntry is the lock state of one file name. Guarded by its table's
// mutex.
type lockEntry struct {
	shmPath   string                   // WAL index file of a main database ("" = none)
	handles   map[*lockHandle]struct{} // open handles on the name
	shared    int                      // handles at SHARED or above
	reserved  *lockHandle              // holder of RESERVED (or above), if any
	pending   *lockHandle              // holder of PENDING (or EXCLUSIVE), if any
	exclusive *lockHandle              // holder of EXCLUSIVE, if any
}

// lockHandle is one open file's place in a lock table. Its level is
// guarded by the table's mutex; the other fields never change.
type lockHandle struct {
	table *lockTable
	name  string
	errs  *errSlot         // the file's, for noteErr
	level sqlvfs.LockLevel // guarded by table.mu
}

func newLockTable(domain any, shmDir string) *lockTable {
	t := &lockTable{domain: domain, shmDir: shmDir}
	t.mu.files = map[string]*lockEntry{}
	return t
}

// shmSeq numbers WAL index files, with shmToken telling this process's
// apart from those of earlier processes that used the same directory.
var (
	shmSeq   atomic.Uint64
	shmToken = func() string {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		return hex.EncodeToString(b[:])
	}()
)

// open adds a handle for name at level NONE. For a main database of a
// table with shared memory it also returns the path of the database's WAL
// index: a new one when no handle had the name open.
func (t *lockTable) open(name string, errs *errSlot, mainDB bool) (*lockHandle, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mu.files[name]
	if e == nil {
		e = &lockEntry{handles: map[*lockHandle]struct{}{}}
		if mainDB && t.shmDir != "" {
			e.shmPath = filepath.Join(t.shmDir, fmt.Sprintf("holeycow-%s-%d-%s-shm",
				shmToken, shmSeq.Add(1), strings.NewReplacer("/", "_", "\\", "_").Replace(name)))
		}
		t.mu.files[name] = e
	}
	h := &lockHandle{table: t, name: name, errs: errs}
	e.handles[h] = struct{}{}
	return h, e.shmPath
}

// noteErr records err as the last error of every file open as name.
func (t *lockTable) noteErr(name string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.mu.files[name]; e != nil {
		for h := range e.handles {
			h.errs.set(err)
		}
	}
}

// close releases every lock h holds and removes it.
func (h *lockHandle) close() {
	t := h.table
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mu.files[h.name]
	h.unlockLocked(e, sqlvfs.LOCK_NONE)
	delete(e.handles, h)
	if len(e.handles) == 0 {
		delete(t.mu.files, h.name)
		if e.shmPath != "" {
			// Every connection has closed (and unmapped) the index: drop
			// it, so that nothing opens it again.
			os.Remove(e.shmPath)
		}
	}
}

// lock raises h to level, as xLock does. It returns sqlite3.BUSY when
// another handle's lock is in the way; a handle that asked for EXCLUSIVE
// and got BUSY because of other readers keeps PENDING, so that no new
// reader comes in while it waits.
func (h *lockHandle) lock(level sqlvfs.LockLevel) error {
	t := h.table
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mu.files[h.name]
	if h.level >= level {
		return nil
	}
	switch level {
	case sqlvfs.LOCK_SHARED:
		if h.level != sqlvfs.LOCK_NONE {
			return sqlite3.IOERR_LOCK
		}
		if e.pending != nil || e.exclusive != nil {
			return sqlite3.BUSY
		}
		e.shared++
		h.level = sqlvfs.LOCK_SHARED
		return nil

	case sqlvfs.LOCK_RESERVED:
		if h.level != sqlvfs.LOCK_SHARED {
			return sqlite3.IOERR_LOCK
		}
		if e.reserved != nil {
			return sqlite3.BUSY
		}
		e.reserved = h
		h.level = sqlvfs.LOCK_RESERVED
		return nil

	case sqlvfs.LOCK_EXCLUSIVE:
		if h.level < sqlvfs.LOCK_SHARED {
			return sqlite3.IOERR_LOCK
		}
		// From SHARED straight to EXCLUSIVE (hot journal rollback) the
		// handle must also be the only would-be writer.
		if e.reserved != nil && e.reserved != h {
			return sqlite3.BUSY
		}
		if e.pending != nil && e.pending != h {
			return sqlite3.BUSY
		}
		e.reserved = h
		e.pending = h
		h.level = sqlvfs.LOCK_PENDING
		if e.shared > 1 {
			return sqlite3.BUSY
		}
		e.exclusive = h
		h.level = sqlvfs.LOCK_EXCLUSIVE
		return nil
	}
	// SQLite never asks for PENDING or NONE through xLock.
	return sqlite3.IOERR_LOCK
}

// unlock lowers h to level (SHARED or NONE), as xUnlock does.
func (h *lockHandle) unlock(level sqlvfs.LockLevel) {
	t := h.table
	t.mu.Lock()
	defer t.mu.Unlock()
	h.unlockLocked(t.mu.files[h.name], level)
}

func (h *lockHandle) unlockLocked(e *lockEntry, level sqlvfs.LockLevel) {
	if h.level <= level {
		return
	}
	if e.exclusive == h {
		e.exclusive = nil
	}
	if e.pending == h {
		e.pending = nil
	}
	if e.reserved == h {
		e.reserved = nil
	}
	if level == sqlvfs.LOCK_NONE {
		e.shared--
	}
	h.level = level
}

// reservedByAny reports whether any handle on the name holds RESERVED or
// above, as xCheckReservedLock does.
func (h *lockHandle) reservedByAny() bool {
	t := h.table
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mu.files[h.name]
	return e.reserved != nil || e.pending != nil || e.exclusive != nil
}

// state returns h's level.
func (h *lockHandle) state() sqlvfs.LockLevel {
	h.table.mu.Lock()
	defer h.table.mu.Unlock()
	return h.level
}

// check verifies the table against SQLite's locking rules: the counts
// match the handles' levels, at most one handle is above SHARED, and an
// EXCLUSIVE holder is the only reader.
func (t *lockTable) check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for name, e := range t.mu.files {
		if len(e.handles) == 0 {
			errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: entry without handles", name))
		}
		shared, writers := 0, 0
		for h := range e.handles {
			if h.level >= sqlvfs.LOCK_SHARED {
				shared++
			}
			if h.level >= sqlvfs.LOCK_RESERVED {
				writers++
				if e.reserved != h {
					errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: handle at %v is not the reserved holder", name, h.level))
				}
			}
			if h.level >= sqlvfs.LOCK_PENDING && e.pending != h {
				errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: handle at %v is not the pending holder", name, h.level))
			}
			if h.level == sqlvfs.LOCK_EXCLUSIVE && e.exclusive != h {
				errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: handle at EXCLUSIVE is not the exclusive holder", name))
			}
		}
		if shared != e.shared {
			errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: shared count %d, handles at SHARED or above %d", name, e.shared, shared))
		}
		if writers > 1 {
			errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: %d handles above SHARED", name, writers))
		}
		for _, holder := range []*lockHandle{e.reserved, e.pending, e.exclusive} {
			if holder != nil {
				if _, ok := e.handles[holder]; !ok {
					errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: lock held by a closed handle", name))
				}
			}
		}
		if e.exclusive != nil && e.shared != 1 {
			errs = append(errs, fmt.Errorf("sqlitevfs: lock table: %s: EXCLUSIVE held with %d readers", name, e.shared))
		}
	}
	return errors.Join(errs...)
}
