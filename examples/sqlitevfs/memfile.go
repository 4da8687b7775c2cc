package sqlitevfs

import (
	"io"
	"sync"

	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

var _ sqlvfs.File = (*memFile)(nil)

// memFile is a nameless file SQLite asked for: a temp database, a temp or
// statement journal, a sorter's spill file. Nothing else can open it, it
// is gone at Close, and it never reaches the FS, so temp data costs a cow
// view no overlay and no stability round.
//
// Concurrency: safe for concurrent use (SQLite does not need it).
type memFile struct {
	reg *registration
	// mu guards data and closed.
	mu struct {
		sync.Mutex
		data   []byte
		closed bool
	}
}

func (m *memFile) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil
	}
	m.mu.closed = true
	m.mu.data = nil
	m.reg.closed()
	return nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, sqlite3.IOERR_READ
	}
	var n int
	if off < int64(len(m.mu.data)) {
		n = copy(p, m.mu.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 {
		return 0, sqlite3.IOERR_WRITE
	}
	end := off + int64(len(p))
	if end > int64(len(m.mu.data)) {
		m.grow(end)
	}
	return copy(m.mu.data[off:], p), nil
}

// grow extends data to size zero bytes; mu must be held.
func (m *memFile) grow(size int64) {
	if size <= int64(cap(m.mu.data)) {
		old := len(m.mu.data)
		m.mu.data = m.mu.data[:size]
		clear(m.mu.data[old:])
		return
	}
	d := make([]byte, size, max(size, 2*int64(cap(m.mu.data))))
	copy(d, m.mu.data)
	m.mu.data = d
}

func (m *memFile) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size < 0 {
		return sqlite3.IOERR_TRUNCATE
	}
	if size <= int64(len(m.mu.data)) {
		m.mu.data = m.mu.data[:size]
	} else {
		m.grow(size)
	}
	return nil
}

func (m *memFile) Size() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.mu.data)), nil
}

func (*memFile) Sync(sqlvfs.SyncFlag) error       { return nil }
func (*memFile) Lock(sqlvfs.LockLevel) error      { return nil }
func (*memFile) Unlock(sqlvfs.LockLevel) error    { return nil }
func (*memFile) CheckReservedLock() (bool, error) { return false, nil }
func (*memFile) SectorSize() int                  { return sectorSize }
func (*memFile) DeviceCharacteristics() sqlvfs.DeviceCharacteristic {
	return sqlvfs.IOCAP_POWERSAFE_OVERWRITE
}
