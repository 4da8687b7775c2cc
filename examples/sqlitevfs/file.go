package sqlitevfs

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

var (
	_ sqlvfs.File                   = (*file)(nil)
	_ sqlvfs.FileLockState          = (*file)(nil)
	_ sqlvfs.FilePowersafeOverwrite = (*file)(nil)
	_ sqlvfs.FilePragma             = (*file)(nil)
	_ sqlvfs.FileSharedMemory       = (*file)(nil)
)

// file is a file of the FS opened by SQLite: a database, a journal, a WAL
// or a super-journal.
//
// Concurrency: SQLite calls one file from one connection at a time. The
// lock level lives in the lock table, under its mutex; the other fields
// belong to the owning connection.
type file struct {
	reg           *registration
	f             vfs.File
	name          string // clean vfs path
	lk            *lockHandle
	readOnly      bool
	deleteOnClose bool
	dirSync       bool // sync the parent directory at the next Sync
	psow          bool // report POWERSAFE_OVERWRITE
	exclusiveMode bool // the connection set PRAGMA locking_mode=EXCLUSIVE
	closed        bool
	errs          *errSlot // shared by a database and its journal and WAL
	// shm is a main database's WAL index (nil without WithSharedMemory).
	shm sqlvfs.SharedMemory
}

// SharedMemory implements sqlvfs.FileSharedMemory: the WAL index of a
// main database opened through a registration WithSharedMemory, else nil.
func (f *file) SharedMemory() sqlvfs.SharedMemory { return f.shm }

// errSlot keeps the last error that the FS returned for one connection's
// database, journal or WAL, for LastIOError.
//
// Concurrency: safe for concurrent use.
type errSlot struct {
	// mu guards err.
	mu  sync.Mutex
	err error
}

func (s *errSlot) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *errSlot) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fail records err, if not nil, and returns it tagged with code (see
// sqliteError).
func (f *file) fail(err error, code sqlite3.ExtendedErrorCode) error {
	if err == nil {
		return nil
	}
	f.errs.set(err)
	return sqliteError(err, code)
}

// Close releases the file's locks, closes it, and removes it if SQLite
// opened it with DELETEONCLOSE.
func (f *file) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.shm != nil {
		// Before the lock handle: the last handle's close removes the
		// index file, which must be unmapped by then.
		f.shm.Close()
	}
	f.lk.close()
	err := f.f.Close()
	if f.deleteOnClose {
		if rerr := f.reg.fsys.Remove(f.name); rerr != nil && err == nil {
			err = rerr
		}
	}
	f.reg.closed()
	return f.fail(err, sqlite3.IOERR_CLOSE)
}

// ReadAt implements xRead. A read that reaches past the end returns a bare
// io.EOF, which ncruces turns into SQLITE_IOERR_SHORT_READ after zeroing
// the rest of p, as SQLite requires.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, f.fail(err, sqlite3.IOERR_READ)
}

// WriteAt implements xWrite.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.f.WriteAt(p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, f.fail(err, sqlite3.IOERR_WRITE)
}

// Truncate implements xTruncate.
func (f *file) Truncate(size int64) error {
	return f.fail(f.f.Truncate(size), sqlite3.IOERR_TRUNCATE)
}

// Sync implements xSync: Sync, or SyncData for SQLITE_SYNC_DATAONLY, then
// the parent directory once if the file was created by this open.
func (f *file) Sync(flags sqlvfs.SyncFlag) error {
	var err error
	if flags&sqlvfs.SYNC_DATAONLY != 0 {
		err = vfs.SyncData(f.f)
	} else {
		err = f.f.Sync()
	}
	if err != nil {
		return f.fail(err, sqlite3.IOERR_FSYNC)
	}
	if f.dirSync {
		if err := f.reg.fsys.SyncDir(vfs.Dir(f.name)); err != nil {
			return f.fail(err, sqlite3.IOERR_DIR_FSYNC)
		}
		f.dirSync = false
	}
	return nil
}

// Size implements xFileSize.
func (f *file) Size() (int64, error) {
	n, err := f.f.Size()
	return n, f.fail(err, sqlite3.IOERR_FSTAT)
}

// Lock implements xLock with the in-process lock table.
func (f *file) Lock(level sqlvfs.LockLevel) error {
	if f.readOnly && level >= sqlvfs.LOCK_RESERVED {
		return sqlite3.IOERR_LOCK
	}
	return f.lk.lock(level)
}

// Unlock implements xUnlock.
func (f *file) Unlock(level sqlvfs.LockLevel) error {
	f.lk.unlock(level)
	return nil
}

// CheckReservedLock implements xCheckReservedLock.
func (f *file) CheckReservedLock() (bool, error) {
	return f.lk.reservedByAny(), nil
}

// LockState implements SQLITE_FCNTL_LOCKSTATE.
func (f *file) LockState() sqlvfs.LockLevel { return f.lk.state() }

// SectorSize implements xSectorSize.
func (f *file) SectorSize() int { return sectorSize }

// DeviceCharacteristics implements xDeviceCharacteristics. A vfs.FS
// promises no atomic or sequential writes and no safe appends; it
// promises POWERSAFE_OVERWRITE unless the registration or the "psow" URI
// parameter says otherwise.
func (f *file) DeviceCharacteristics() sqlvfs.DeviceCharacteristic {
	if f.psow {
		return sqlvfs.IOCAP_POWERSAFE_OVERWRITE
	}
	return 0
}

// PowersafeOverwrite implements SQLITE_FCNTL_POWERSAFE_OVERWRITE.
func (f *file) PowersafeOverwrite() bool { return f.psow }

// SetPowersafeOverwrite implements SQLITE_FCNTL_POWERSAFE_OVERWRITE.
func (f *file) SetPowersafeOverwrite(on bool) { f.psow = on }

// Pragma implements SQLITE_FCNTL_PRAGMA, which SQLite sends to the main
// database file when it prepares a PRAGMA statement. The adapter watches
// three pragmas and lets SQLite handle every pragma itself:
//
//   - locking_mode: remembers whether the connection is EXCLUSIVE;
//   - journal_mode=WAL: refused with ErrWALNeedsExclusive's message unless
//     locking_mode=EXCLUSIVE came first or the registration has shared
//     memory (WithSharedMemory);
//   - page_size=N: on a database that is still empty, sets the view's
//     block size to N (see sizeBlocks).
func (f *file) Pragma(name, value string) (string, error) {
	switch name {
	case "locking_mode":
		if value != "" {
			f.exclusiveMode = strings.EqualFold(value, "exclusive")
		}
	case "journal_mode":
		if strings.EqualFold(value, "wal") && !f.exclusiveMode && f.shm == nil {
			return "", ErrWALNeedsExclusive
		}
	case "page_size":
		bs, ok := f.reg.fsys.(blockSizer)
		n, err := strconv.Atoi(value)
		if !ok || err != nil || !validPageSize(n) {
			break
		}
		if size, err := f.f.Size(); err != nil || size != 0 {
			break
		}
		if err := setBlockSize(bs, f.name, n); err != nil {
			return "", err
		}
	}
	return "", sqlite3.NOTFOUND
}
