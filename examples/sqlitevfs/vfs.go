package sqlitevfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

var _ sqlvfs.VFS = (*registration)(nil)

// blockSizer is the part of *cow.View the adapter uses to match a view's
// block size to the database page size, declared here so that the adapter
// does not import package cow.
type blockSizer interface {
	BlockSize() int
	SetBlockSize(n int) error
}

// cleanName maps a name from SQLite to a vfs path: leading slashes go (a
// "file:/main.db" URI names "main.db" at the FS root), the rest is cleaned,
// and a name that is empty, the root, or climbs out of it is refused.
func cleanName(op, name string) (string, error) {
	n := path.Clean(strings.TrimLeft(name, "/"))
	if n == "." || !fs.ValidPath(n) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return n, nil
}

// FullPathname implements xFullPathname: SQLite's canonical name of a
// database is its clean vfs path, and SQLite derives the journal
// ("-journal") and WAL ("-wal") names from it.
func (r *registration) FullPathname(name string) (string, error) {
	n, err := cleanName("fullpathname", name)
	if err != nil {
		return "", sqlvfs.SystemError(err, sqlite3.CANTOPEN_FULLPATH)
	}
	return n, nil
}

// Access implements xAccess with Stat. A missing file is not an error.
func (r *registration) Access(name string, flags sqlvfs.AccessFlag) (bool, error) {
	n, err := cleanName("access", name)
	if err != nil {
		return false, sqlvfs.SystemError(err, sqlite3.IOERR_ACCESS)
	}
	if _, err := r.fsys.Stat(n); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		r.noteErr(n, err)
		return false, sqliteError(err, sqlite3.IOERR_ACCESS)
	}
	return true, nil
}

// Delete implements xDelete with Remove, then SyncDir on the parent when
// SQLite asks for it (synchronous=EXTRA, super-journals).
func (r *registration) Delete(name string, syncDir bool) error {
	n, err := cleanName("remove", name)
	if err != nil {
		return sqlvfs.SystemError(err, sqlite3.IOERR_DELETE)
	}
	if err := r.fsys.Remove(n); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return sqlvfs.SystemError(err, sqlite3.IOERR_DELETE_NOENT)
		}
		r.noteErr(n, err)
		return sqliteError(err, sqlite3.IOERR_DELETE)
	}
	if syncDir {
		if err := r.fsys.SyncDir(vfs.Dir(n)); err != nil {
			r.noteErr(n, err)
			return sqliteError(err, sqlite3.IOERR_DIR_FSYNC)
		}
	}
	return nil
}

// noteErr records err, from xAccess or xDelete of name, as the last error
// of every open database that name belongs to (name itself, or the
// database of a journal or WAL), for LastIOError.
func (r *registration) noteErr(name string, err error) {
	db := name
	for _, suffix := range []string{"-journal", "-wal"} {
		if s, ok := strings.CutSuffix(name, suffix); ok {
			db = s
			break
		}
	}
	r.locks.noteErr(db, err)
}

// Open implements xOpen. ncruces calls OpenFilename instead.
func (r *registration) Open(name string, flags sqlvfs.OpenFlag) (sqlvfs.File, sqlvfs.OpenFlag, error) {
	return r.open(name, nil, flags)
}

// OpenFilename implements xOpen. A file without a name (temp databases,
// temp and statement journals) lives in memory; anything else is a file of
// the FS. A journal or WAL shares its database's errSlot.
func (r *registration) OpenFilename(name *sqlvfs.Filename, flags sqlvfs.OpenFlag) (sqlvfs.File, sqlvfs.OpenFlag, error) {
	return r.open(name.String(), name, flags)
}

func (r *registration) open(name string, fname *sqlvfs.Filename, flags sqlvfs.OpenFlag) (sqlvfs.File, sqlvfs.OpenFlag, error) {
	r.mu.Lock()
	if r.mu.unregistered {
		r.mu.Unlock()
		return nil, flags, sqlite3.CANTOPEN
	}
	r.mu.open++
	r.mu.Unlock()

	var f sqlvfs.File
	var err error
	if name == "" {
		f = &memFile{reg: r}
	} else {
		f, flags, err = r.openFS(name, fname, flags)
	}
	if err != nil {
		r.closed()
		return nil, flags, err
	}
	return f, flags, nil
}

// closed counts a file of r as closed.
func (r *registration) closed() {
	r.mu.Lock()
	r.mu.open--
	r.mu.Unlock()
}

// fileMode is the mode of the files the VFS creates (databases, journals):
// private to their owner, as database files hold the data.
const fileMode = 0o600

func (r *registration) openFS(name string, fname *sqlvfs.Filename, flags sqlvfs.OpenFlag) (sqlvfs.File, sqlvfs.OpenFlag, error) {
	n, err := cleanName("open", name)
	if err != nil {
		return nil, flags, sqlvfs.SystemError(err, sqlite3.CANTOPEN)
	}
	mode := os.O_RDONLY
	if flags&sqlvfs.OPEN_READWRITE != 0 {
		mode = os.O_RDWR
	}
	create := flags&sqlvfs.OPEN_CREATE != 0
	var vf vfs.File
	created := false
	if create && flags&sqlvfs.OPEN_EXCLUSIVE != 0 {
		vf, err = r.fsys.Open(n, mode|os.O_CREATE|os.O_EXCL, fileMode)
		created = err == nil
	} else {
		// Open an existing file without O_CREATE: on a cow writer view,
		// creating is a mutation that needs a stability round, and SQLite
		// passes OPEN_CREATE on every open of a database or journal.
		vf, err = r.fsys.Open(n, mode, 0)
		if create && errors.Is(err, fs.ErrNotExist) {
			vf, err = r.fsys.Open(n, mode|os.O_CREATE, fileMode)
			created = err == nil
		}
		if err != nil && mode == os.O_RDWR && (errors.Is(err, vfs.ErrReadOnly) || errors.Is(err, fs.ErrPermission)) {
			// As SQLite's unix VFS does: fall back to read-only.
			if vf, err = r.fsys.Open(n, os.O_RDONLY, 0); err == nil {
				flags = flags&^(sqlvfs.OPEN_READWRITE|sqlvfs.OPEN_CREATE) | sqlvfs.OPEN_READONLY
			}
		}
	}
	errs := &errSlot{}
	if flags&(sqlvfs.OPEN_MAIN_JOURNAL|sqlvfs.OPEN_WAL) != 0 {
		if db := unwrapFile(fname.DatabaseFile()); db != nil {
			errs = db.errs
		}
	}
	if err != nil {
		errs.set(err)
		return nil, flags, openError(err)
	}
	if flags&sqlvfs.OPEN_MAIN_DB != 0 {
		if err := r.sizeBlocks(n, vf); err != nil {
			vf.Close()
			return nil, flags, err
		}
	}
	f := &file{
		reg:           r,
		f:             vf,
		name:          n,
		readOnly:      flags&sqlvfs.OPEN_READONLY != 0,
		deleteOnClose: flags&sqlvfs.OPEN_DELETEONCLOSE != 0,
		psow:          r.cfg.psow,
		errs:          errs,
	}
	var shmPath string
	f.lk, shmPath = r.locks.open(n, errs, flags&sqlvfs.OPEN_MAIN_DB != 0)
	if shmPath != "" {
		f.shm = sqlvfs.NewSharedMemory(shmPath, flags)
	}
	// A new file's directory entry must be durable before SQLite relies
	// on the file: a journal that vanishes in a crash cannot roll back a
	// half-written transaction. The first Sync syncs the directory too.
	f.dirSync = created && !f.deleteOnClose
	return f, flags, nil
}

// sizeBlocks sets the block size of a view that has one (a *cow.View) to
// the database page size: the one in the header of an existing database,
// else the configured page size for a new one. It fails with ErrBlockSize
// when the sizes differ and the view can no longer change its block size.
func (r *registration) sizeBlocks(name string, f vfs.File) error {
	bs, ok := r.fsys.(blockSizer)
	if !ok {
		return nil
	}
	ps := r.cfg.pageSize
	if hps := headerPageSize(f); hps != 0 {
		ps = hps
	}
	if err := setBlockSize(bs, name, ps); err != nil {
		return sqlvfs.SystemError(err, sqlite3.CANTOPEN)
	}
	return nil
}

func setBlockSize(bs blockSizer, name string, ps int) error {
	if bs.BlockSize() == ps {
		return nil
	}
	if err := bs.SetBlockSize(ps); err != nil {
		if got := bs.BlockSize(); got != ps {
			return &fs.PathError{Op: "open", Path: name,
				Err: fmt.Errorf("%w (block size %d, page size %d): %w", ErrBlockSize, got, ps, err)}
		}
	}
	return nil
}

// headerPageSize returns the page size recorded in the header of the
// database in f (big-endian bytes 16-17, 1 meaning 65536), or 0 if f holds
// no valid header.
func headerPageSize(f vfs.File) int {
	var hdr [18]byte
	n, err := f.ReadAt(hdr[:], 0)
	if n < len(hdr) || (err != nil && !errors.Is(err, io.EOF)) {
		return 0
	}
	if string(hdr[:16]) != "SQLite format 3\x00" {
		return 0
	}
	ps := int(binary.BigEndian.Uint16(hdr[16:]))
	if ps == 1 {
		ps = 65536
	}
	if !validPageSize(ps) {
		return 0
	}
	return ps
}

// unwrapFile returns the adapter's file inside f (ncruces wraps main
// databases), or nil.
func unwrapFile(f sqlvfs.File) *file {
	for range 8 { // bounded: wrappers do not nest deeply
		switch x := f.(type) {
		case *file:
			return x
		case sqlvfs.FileUnwrap:
			f = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
