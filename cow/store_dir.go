package cow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/holeycow/holeycow/vfs"
)

// dirStore spills overlay blocks to files on a local scratch FS (the
// paper's RAM disk), one file per overlay file. A file is removed when its
// overlay file is dropped (DeleteFile: reset, promotion, unlink) and
// emptied when its last block goes (a truncation to 0, such as SQLite's
// journal after each transaction); Close removes them all. Block idx lives in a slot
// at idx*(blockSize+slotTrailer); the trailer holds a CRC-32C of the block
// index and content, so a block that was damaged on the scratch device
// reads as vfs.ErrCorrupt instead of wrong data.
//
// Concurrency: safe for concurrent use; reads of different blocks run in
// parallel.
type dirStore struct {
	scratch vfs.FS
	// mu guards the open files and the usage figures.
	mu struct {
		sync.Mutex
		files  map[uint64]*dirFile
		bytes  int64
		blocks int64
	}
}

type dirFile struct {
	f      vfs.File
	blocks map[int64]int // block index -> block size
}

const slotTrailer = 8 // 4 bytes CRC-32C, 4 bytes magic

const slotMagic = 0x686f6c79 // "holy"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var _ Store = (*dirStore)(nil)

// NewDirStore returns a Store that keeps blocks in files on scratch, which
// should be local and fast (a tmpfs). It creates the directory "overlay" on
// scratch and removes whatever an earlier run left in it. Each view needs
// its own scratch FS (or its own sub-directory, see vfs helpers).
func NewDirStore(scratch vfs.FS) (Store, error) {
	if scratch == nil {
		return nil, &fs.PathError{Op: "newdirstore", Path: ".", Err: fs.ErrInvalid}
	}
	if err := vfs.RemoveAll(scratch, "overlay"); err != nil {
		return nil, err
	}
	if err := scratch.MkdirAll("overlay", 0o755); err != nil {
		return nil, err
	}
	s := &dirStore{scratch: scratch}
	s.mu.files = make(map[uint64]*dirFile)
	return s, nil
}

func fileName(id uint64) string { return fmt.Sprintf("overlay/%d", id) }

func (s *dirStore) file(id uint64, create bool) (*dirFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if df, ok := s.mu.files[id]; ok {
		return df, nil
	}
	if !create {
		return nil, &fs.PathError{Op: "readblock", Path: fileName(id), Err: fs.ErrNotExist}
	}
	f, err := s.scratch.Open(fileName(id), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	df := &dirFile{f: f, blocks: make(map[int64]int)}
	s.mu.files[id] = df
	return df, nil
}

func (s *dirStore) ReadBlock(id uint64, idx int64, p []byte) error {
	df, err := s.file(id, false)
	if err != nil {
		return err
	}
	slot := getSlot(len(p) + slotTrailer)
	defer putSlot(slot)
	off := idx * int64(len(p)+slotTrailer)
	n, err := df.f.ReadAt(slot, off)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(slot)) {
		if errors.Is(err, io.EOF) {
			return &fs.PathError{Op: "readblock", Path: blockName(id, idx), Err: vfs.ErrCorrupt}
		}
		return err
	}
	data, trailer := slot[:len(p)], slot[len(p):]
	if binary.LittleEndian.Uint32(trailer[4:]) != slotMagic ||
		binary.LittleEndian.Uint32(trailer[:4]) != blockSum(idx, data) {
		return &fs.PathError{Op: "readblock", Path: blockName(id, idx), Err: vfs.ErrCorrupt}
	}
	copy(p, data)
	return nil
}

// slotPool recycles slot buffers (a block plus its trailer).
var slotPool sync.Pool

func getSlot(n int) []byte {
	if b, ok := slotPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func putSlot(b []byte) { slotPool.Put(&b) }

func blockSum(idx int64, data []byte) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(idx))
	return crc32.Update(crc32.Checksum(b[:], crcTable), crcTable, data)
}

func (s *dirStore) WriteBlock(id uint64, idx int64, p []byte) error {
	df, err := s.file(id, true)
	if err != nil {
		return err
	}
	slot := getSlot(len(p) + slotTrailer)
	defer putSlot(slot)
	copy(slot, p)
	binary.LittleEndian.PutUint32(slot[len(p):], blockSum(idx, p))
	binary.LittleEndian.PutUint32(slot[len(p)+4:], slotMagic)
	if _, err := df.f.WriteAt(slot, idx*int64(len(slot))); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := df.blocks[idx]; ok {
		s.mu.bytes -= int64(old)
	} else {
		s.mu.blocks++
	}
	df.blocks[idx] = len(p)
	s.mu.bytes += int64(len(p))
	return nil
}

func (s *dirStore) DeleteBlock(id uint64, idx int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	df, ok := s.mu.files[id]
	if !ok {
		return nil
	}
	if old, ok := df.blocks[idx]; ok {
		s.mu.bytes -= int64(old)
		s.mu.blocks--
		delete(df.blocks, idx)
		if len(df.blocks) == 0 {
			// Give the space back: the file would otherwise keep its
			// largest size (a journal truncated after every transaction).
			return df.f.Truncate(0)
		}
	}
	return nil
}

func (s *dirStore) DeleteFile(id uint64) error {
	s.mu.Lock()
	df, ok := s.mu.files[id]
	if ok {
		for _, n := range df.blocks {
			s.mu.bytes -= int64(n)
			s.mu.blocks--
		}
		delete(s.mu.files, id)
	}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	err := df.f.Close()
	if rerr := s.scratch.Remove(fileName(id)); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr
	}
	return err
}

// Close closes and removes every file, and the "overlay" directory. The
// store is unusable afterwards.
func (s *dirStore) Close() error {
	s.mu.Lock()
	files := s.mu.files
	s.mu.files = make(map[uint64]*dirFile)
	s.mu.bytes, s.mu.blocks = 0, 0
	s.mu.Unlock()
	var errs []error
	for _, df := range files {
		errs = append(errs, df.f.Close())
	}
	errs = append(errs, vfs.RemoveAll(s.scratch, "overlay"))
	return errors.Join(errs...)
}

func (s *dirStore) Usage() (bytes, blocks int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.bytes, s.mu.blocks
}
