package leveldbstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/holeycow/holeycow/vfs"
)

// Storage is goleveldb's storage.Storage over one directory of a vfs.FS.
//
// Concurrency: safe for concurrent use, as goleveldb requires.
type Storage struct {
	fsys vfs.FS
	dir  string

	mu struct {
		sync.Mutex
		closed   bool
		fileLock io.Closer // the vfs lock on dir/LOCK, held until Close
		locked   bool      // Lock's in-process lock is taken
	}
}

var _ storage.Storage = (*Storage)(nil)

// New creates dir on fsys if needed (durably), takes the vfs lock on dir/LOCK (so a
// second Storage on the same directory gets vfs.ErrLocked) and returns the
// Storage. Close releases the lock.
func New(fsys vfs.FS, dir string) (*Storage, error) {
	if err := vfs.CheckPath("leveldbstore", dir); err != nil {
		return nil, err
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Make dir's entry, and its parents', durable: goleveldb syncs only
	// dir itself.
	for d := dir; d != "."; d = path.Dir(d) {
		if err := fsys.SyncDir(path.Dir(d)); err != nil {
			return nil, err
		}
	}
	l, err := fsys.Lock(path.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	s := &Storage{fsys: fsys, dir: dir}
	s.mu.fileLock = l
	return s, nil
}

func (s *Storage) path(fd storage.FileDesc) string { return path.Join(s.dir, fileName(fd)) }

// check returns storage.ErrClosed after Close.
func (s *Storage) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return storage.ErrClosed
	}
	return nil
}

// Lock takes the storage's in-process lock (goleveldb's own use of it);
// a second Lock before Unlock gets storage.ErrLocked.
func (s *Storage) Lock() (storage.Locker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, storage.ErrClosed
	}
	if s.mu.locked {
		return nil, storage.ErrLocked
	}
	s.mu.locked = true
	return unlocker{s}, nil
}

type unlocker struct{ s *Storage }

func (u unlocker) Unlock() {
	u.s.mu.Lock()
	u.s.mu.locked = false
	u.s.mu.Unlock()
}

// Log does nothing.
func (s *Storage) Log(string) {}

// SetMeta points CURRENT at fd atomically: it writes and syncs a temporary
// file, renames it over CURRENT and syncs the directory.
func (s *Storage) SetMeta(fd storage.FileDesc) error {
	if !storage.FileDescOk(fd) {
		return storage.ErrInvalidFile
	}
	if err := s.check(); err != nil {
		return err
	}
	tmp := path.Join(s.dir, "CURRENT.tmp")
	f, err := s.fsys.Open(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(fileName(fd)+"\n"), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := s.fsys.Rename(tmp, path.Join(s.dir, "CURRENT")); err != nil {
		return err
	}
	return s.fsys.SyncDir(s.dir)
}

// GetMeta returns the file CURRENT points at: an *fs.PathError wrapping
// fs.ErrNotExist (which os.IsNotExist matches, as goleveldb checks) if
// there is no CURRENT or its file is missing, a *storage.ErrCorrupted if
// CURRENT does not name a file.
func (s *Storage) GetMeta() (storage.FileDesc, error) {
	if err := s.check(); err != nil {
		return storage.FileDesc{}, err
	}
	current := path.Join(s.dir, "CURRENT")
	b, err := vfs.ReadFile(s.fsys, current)
	if errors.Is(err, fs.ErrNotExist) {
		return storage.FileDesc{}, &fs.PathError{Op: "getmeta", Path: current, Err: fs.ErrNotExist}
	}
	if err != nil {
		return storage.FileDesc{}, err
	}
	fd, ok := parseName(strings.TrimSuffix(string(b), "\n"))
	if !ok || !strings.HasSuffix(string(b), "\n") {
		return storage.FileDesc{}, &storage.ErrCorrupted{Err: fmt.Errorf("%w: %q", ErrBadCurrent, b)}
	}
	if _, err := s.fsys.Stat(s.path(fd)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return storage.FileDesc{}, &fs.PathError{Op: "getmeta", Path: s.path(fd), Err: fs.ErrNotExist}
		}
		return storage.FileDesc{}, err
	}
	return fd, nil
}

// List returns the files of the given types.
func (s *Storage) List(ft storage.FileType) ([]storage.FileDesc, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	names, err := s.fsys.List(s.dir)
	if err != nil {
		return nil, err
	}
	var fds []storage.FileDesc
	for _, n := range names {
		if fd, ok := parseName(n); ok && fd.Type&ft != 0 {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// Open opens fd for reading.
func (s *Storage) Open(fd storage.FileDesc) (storage.Reader, error) {
	if !storage.FileDescOk(fd) {
		return nil, storage.ErrInvalidFile
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	f, err := s.fsys.Open(s.path(fd), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return &reader{f: f}, nil
}

// Create creates fd (truncating it if it exists) for writing. The first
// Sync of the file also syncs the directory, so that a synced file cannot
// vanish in a crash.
func (s *Storage) Create(fd storage.FileDesc) (storage.Writer, error) {
	if !storage.FileDescOk(fd) {
		return nil, storage.ErrInvalidFile
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	f, err := s.fsys.Open(s.path(fd), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &writer{f: f, fsys: s.fsys, dir: s.dir}, nil
}

// Remove removes fd.
func (s *Storage) Remove(fd storage.FileDesc) error {
	if !storage.FileDescOk(fd) {
		return storage.ErrInvalidFile
	}
	if err := s.check(); err != nil {
		return err
	}
	return s.fsys.Remove(s.path(fd))
}

// Rename renames oldfd to newfd, replacing newfd.
func (s *Storage) Rename(oldfd, newfd storage.FileDesc) error {
	if !storage.FileDescOk(oldfd) || !storage.FileDescOk(newfd) {
		return storage.ErrInvalidFile
	}
	if err := s.check(); err != nil {
		return err
	}
	if oldfd == newfd {
		return nil
	}
	return s.fsys.Rename(s.path(oldfd), s.path(newfd))
}

// Close releases the directory's lock. Later calls get storage.ErrClosed;
// a second Close returns nil, as goleveldb allows.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	s.mu.closed = true
	return s.mu.fileLock.Close()
}

// fileName is goleveldb's name for fd.
func fileName(fd storage.FileDesc) string {
	switch fd.Type {
	case storage.TypeManifest:
		return fmt.Sprintf("MANIFEST-%06d", fd.Num)
	case storage.TypeJournal:
		return fmt.Sprintf("%06d.log", fd.Num)
	case storage.TypeTable:
		return fmt.Sprintf("%06d.ldb", fd.Num)
	default:
		return fmt.Sprintf("%06d.tmp", fd.Num)
	}
}

// parseName is fileName's inverse.
func parseName(name string) (storage.FileDesc, bool) {
	var fd storage.FileDesc
	if rest, ok := strings.CutPrefix(name, "MANIFEST-"); ok {
		fd.Type = storage.TypeManifest
		return fd, parseNum(rest, &fd.Num)
	}
	num, ext, ok := strings.Cut(name, ".")
	if !ok {
		return fd, false
	}
	switch ext {
	case "log":
		fd.Type = storage.TypeJournal
	case "ldb":
		fd.Type = storage.TypeTable
	case "tmp":
		fd.Type = storage.TypeTemp
	default:
		return fd, false
	}
	return fd, parseNum(num, &fd.Num)
}

func parseNum(s string, n *int64) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int64(c-'0')
	}
	*n = v
	return true
}
