package cow

import (
	"fmt"
	"io/fs"
	"sync"
)

// memStore keeps overlay blocks in memory.
//
// Concurrency: safe for concurrent use.
type memStore struct {
	// mu guards the block maps and the byte count.
	mu struct {
		sync.RWMutex
		files  map[uint64]map[int64][]byte
		bytes  int64
		blocks int64
	}
}

var _ Store = (*memStore)(nil)

// NewMemStore returns a Store that keeps blocks in memory.
func NewMemStore() Store {
	s := &memStore{}
	s.mu.files = make(map[uint64]map[int64][]byte)
	return s
}

func blockName(id uint64, idx int64) string { return fmt.Sprintf("overlay/%d/%d", id, idx) }

func (s *memStore) ReadBlock(id uint64, idx int64, p []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.mu.files[id][idx]
	if !ok || len(b) != len(p) {
		return &fs.PathError{Op: "readblock", Path: blockName(id, idx), Err: fs.ErrNotExist}
	}
	copy(p, b)
	return nil
}

func (s *memStore) WriteBlock(id uint64, idx int64, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.mu.files[id]
	if f == nil {
		f = make(map[int64][]byte)
		s.mu.files[id] = f
	}
	b, ok := f[idx]
	if !ok {
		s.mu.blocks++
	}
	if len(b) != len(p) {
		s.mu.bytes += int64(len(p)) - int64(len(b))
		b = make([]byte, len(p))
		f[idx] = b
	}
	copy(b, p)
	return nil
}

func (s *memStore) DeleteBlock(id uint64, idx int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.mu.files[id][idx]; ok {
		s.mu.bytes -= int64(len(b))
		s.mu.blocks--
		delete(s.mu.files[id], idx)
	}
	return nil
}

func (s *memStore) DeleteFile(id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.mu.files[id] {
		s.mu.bytes -= int64(len(b))
		s.mu.blocks--
	}
	delete(s.mu.files, id)
	return nil
}

func (s *memStore) Usage() (bytes, blocks int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.bytes, s.mu.blocks
}
