package sqlitevfs

import (
	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
	"pgregory.net/rapid"
)

// lockModel is the reference for lockTable: SQLite's locking rules stated
// over the levels of the open handles of one file name.
type lockModel struct {
	levels map[*lockHandle]sqlvfs.LockLevel
}

// othersAtLeast reports whether a handle other than h is at level or above.
func (m *lockModel) othersAtLeast(h *lockHandle, level sqlvfs.LockLevel) bool {
	for o, l := range m.levels {
		if o != h && l >= level {
			return true
		}
	}
	return false
}

// lock returns the level h gets and the error xLock must return.
func (m *lockModel) lock(h *lockHandle, want sqlvfs.LockLevel) (sqlvfs.LockLevel, error) {
	cur := m.levels[h]
	if cur >= want {
		return cur, nil
	}
	switch want {
	case sqlvfs.LOCK_SHARED:
		if cur != sqlvfs.LOCK_NONE {
			return cur, sqlite3.IOERR_LOCK
		}
		if m.othersAtLeast(h, sqlvfs.LOCK_PENDING) {
			return cur, sqlite3.BUSY
		}
		return sqlvfs.LOCK_SHARED, nil
	case sqlvfs.LOCK_RESERVED:
		if cur != sqlvfs.LOCK_SHARED {
			return cur, sqlite3.IOERR_LOCK
		}
		if m.othersAtLeast(h, sqlvfs.LOCK_RESERVED) {
			return cur, sqlite3.BUSY
		}
		return sqlvfs.LOCK_RESERVED, nil
	case sqlvfs.LOCK_EXCLUSIVE:
		if cur < sqlvfs.LOCK_SHARED {
			return cur, sqlite3.IOERR_LOCK
		}
		if m.othersAtLeast(h, sqlvfs.LOCK_RESERVED) {
			return cur, sqlite3.BUSY
		}
		if m.othersAtLeast(h, sqlvfs.LOCK_SHARED) {
			return sqlvfs.LOCK_PENDING, sqlite3.BUSY
		}
		return sqlvfs.LOCK_EXCLUSIVE, nil
	}
	return cur, sqlite3.IOERR_LOCK
}

// TestLockTable_model runs random lock, unlock, open and close calls on
// one file name against lockModel.
func TestLockTable_model(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		table := newLockTable("model", "")
		m := &lockModel{levels: map[*lockHandle]sqlvfs.LockLevel{}}
		var handles []*lockHandle
		pick := func(rt *rapid.T) *lockHandle {
			if len(handles) == 0 {
				rt.Skip("no handle")
			}
			return rapid.SampledFrom(handles).Draw(rt, "handle")
		}
		rt.Repeat(map[string]func(*rapid.T){
			"open": func(rt *rapid.T) {
				if len(handles) >= 4 {
					rt.Skip("enough handles")
				}
				h, _ := table.open("main.db", &errSlot{}, true)
				handles = append(handles, h)
				m.levels[h] = sqlvfs.LOCK_NONE
			},
			"close": func(rt *rapid.T) {
				h := pick(rt)
				h.close()
				delete(m.levels, h)
				for i, o := range handles {
					if o == h {
						handles = append(handles[:i], handles[i+1:]...)
						break
					}
				}
			},
			"lock": func(rt *rapid.T) {
				h := pick(rt)
				want := rapid.SampledFrom([]sqlvfs.LockLevel{
					sqlvfs.LOCK_SHARED, sqlvfs.LOCK_RESERVED, sqlvfs.LOCK_PENDING, sqlvfs.LOCK_EXCLUSIVE,
				}).Draw(rt, "level")
				wantLevel, wantErr := m.lock(h, want)
				err := h.lock(want)
				if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
					rt.Fatalf("lock(%v) from %v: got %v, want %v", want, m.levels[h], err, wantErr)
				}
				m.levels[h] = wantLevel
			},
			"unlock": func(rt *rapid.T) {
				h := pick(rt)
				to := rapid.SampledFrom([]sqlvfs.LockLevel{sqlvfs.LOCK_NONE, sqlvfs.LOCK_SHARED}).Draw(rt, "level")
				h.unlock(to)
				if m.levels[h] > to {
					m.levels[h] = to
				}
			},
			"": func(rt *rapid.T) {
				for h, want := range m.levels {
					if got := h.state(); got != want {
						rt.Fatalf("level %v, model %v", got, want)
					}
					if got, want := h.reservedByAny(), m.othersAtLeast(nil, sqlvfs.LOCK_RESERVED); got != want {
						rt.Fatalf("reservedByAny %v, model %v", got, want)
					}
				}
				if err := table.check(); err != nil {
					rt.Fatal(err)
				}
			},
		})
		for _, h := range handles {
			h.close()
		}
		if n := len(table.mu.files); n != 0 {
			rt.Fatalf("%d entries left after closing every handle", n)
		}
	})
}
