package sqlitevfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/holeycow/holeycow/vfs"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

// DefaultPageSize is the page size assumed for a database that does not
// exist yet, unless WithPageSize says otherwise. It is SQLite's default.
const DefaultPageSize = 4096

// sectorSize is what xSectorSize reports. With POWERSAFE_OVERWRITE set
// (the default) SQLite's pager ignores it and uses 512.
const sectorSize = 4096

// Option configures a registration (see Register).
type Option func(*config) error

type config struct {
	pageSize int    // page size assumed for new databases (block size of views)
	psow     bool   // report SQLITE_IOCAP_POWERSAFE_OVERWRITE
	shmDir   string // OS directory of WAL indexes ("" = no shared memory)
}

// WithSharedMemory gives the registration a WAL index in shared memory
// backed by files in dir, an OS directory that must be node-local (never
// on the shared storage: each node's view of the WAL is its own), so that
// WAL mode works with locking_mode=NORMAL and any number of connections
// read beside the one that writes. dir is created if missing.
//
// An index lives as long as some connection has its database open through
// registrations of the same FS value: the first open after all of them
// closed starts a new, empty index (in a new file; the old one is
// removed), which SQLite rebuilds from the WAL. So an index never outlives
// the view it was built on: close every connection before the view's
// content changes under it (a copier reset, reopening on shared storage),
// as SQLite requires anyway. Registrations of different FS values never
// share an index, even for the same database name.
func WithSharedMemory(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return fmt.Errorf("sqlitevfs: shared memory directory is empty: %w", fs.ErrInvalid)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlitevfs: shared memory directory: %w", err)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("sqlitevfs: shared memory directory: %w", err)
		}
		c.shmDir = abs
		return nil
	}
}

// WithPageSize sets the page size assumed for databases that do not exist
// yet when the adapter sizes a view's blocks (see the package doc). Use the
// same value in Config.PageSize so that SQLite creates the database with it.
// n must be a power of two between 512 and 65536.
func WithPageSize(n int) Option {
	return func(c *config) error {
		if !validPageSize(n) {
			return fmt.Errorf("sqlitevfs: page size %d is not a power of two in [512, 65536]: %w", n, fs.ErrInvalid)
		}
		c.pageSize = n
		return nil
	}
}

// WithPowersafeOverwrite says whether the file system guarantees that a
// write never changes bytes outside the range written, even on power loss
// (SQLITE_IOCAP_POWERSAFE_OVERWRITE). The default is true, as for SQLite's
// unix VFS; say false for storage that may tear neighbouring bytes. The
// "psow" URI parameter overrides it per connection.
func WithPowersafeOverwrite(on bool) Option {
	return func(c *config) error {
		c.psow = on
		return nil
	}
}

// registration is one name registered with SQLite. It implements the
// ncruces VFS interface.
//
// Concurrency: safe for concurrent use; SQLite calls it from every
// connection's goroutine.
type registration struct {
	name  string
	fsys  vfs.FS
	cfg   config
	locks *lockTable // shared with other registrations of the same FS value

	// mu guards the count of open files and the unregistered flag.
	mu struct {
		sync.Mutex
		open         int  // files open through this registration
		unregistered bool // set by Unregister; Open then fails
	}
}

// registry holds every name this package registered and the lock tables
// shared between registrations of the same FS value.
var registry struct {
	// mu guards both maps and serialises Register and Unregister with the
	// ncruces registry.
	mu     sync.Mutex
	byName map[string]*registration
	tables map[any]*lockTable // key: lock domain (see lockDomain)
}

// Register registers fsys with SQLite under name, so that a connection
// opened with the URI parameter vfs=name (see URI, OpenConn, OpenDB) keeps
// its database, journal and any WAL file on fsys.
//
// Errors: an *fs.PathError (Op "register", Path name) wrapping fs.ErrInvalid
// for an empty name, "os" or a nil fsys, ErrNameTaken if SQLite already knows
// the name, or the error of an invalid Option.
func Register(name string, fsys vfs.FS, opts ...Option) error {
	if name == "" || name == "os" || fsys == nil {
		return &fs.PathError{Op: "register", Path: name, Err: fs.ErrInvalid}
	}
	cfg := config{pageSize: DefaultPageSize, psow: true}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return &fs.PathError{Op: "register", Path: name, Err: err}
		}
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if sqlvfs.Find(name) != nil {
		return &fs.PathError{Op: "register", Path: name, Err: ErrNameTaken}
	}
	r := &registration{name: name, fsys: fsys, cfg: cfg}
	dom := lockDomain(fsys, r)
	if registry.tables == nil {
		registry.tables = map[any]*lockTable{}
		registry.byName = map[string]*registration{}
	}
	t := registry.tables[dom]
	if t == nil {
		t = newLockTable(dom, cfg.shmDir)
		registry.tables[dom] = t
	} else if t.shmDir != cfg.shmDir {
		// One FS value, one set of indexes: connections through both
		// registrations share the WAL.
		return &fs.PathError{Op: "register", Path: name,
			Err: fmt.Errorf("%w: shared memory directory %q, another registration of this FS has %q", ErrSharedMemory, cfg.shmDir, t.shmDir)}
	}
	t.users++
	r.locks = t
	registry.byName[name] = r
	sqlvfs.Register(name, r)
	return nil
}

// lockDomain returns the key under which registrations share a lock table:
// the FS value itself when it is a pointer (two registrations of one
// *MemFS or *cow.View lock each other out, as connections on one OS file
// would), else the registration alone.
func lockDomain(fsys vfs.FS, r *registration) any {
	if reflect.TypeOf(fsys).Kind() == reflect.Pointer {
		return fsys
	}
	return r
}

// Unregister removes a name registered by Register. It refuses, with
// ErrInUse, while SQLite has files open through it: close every connection
// first. A connection must not be opening on the name while Unregister runs
// (ncruces panics when SQLite calls a VFS name that has gone).
//
// Errors: an *fs.PathError (Op "unregister", Path name) wrapping
// ErrNotRegistered or ErrInUse.
func Unregister(name string) error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	r := registry.byName[name]
	if r == nil {
		return &fs.PathError{Op: "unregister", Path: name, Err: ErrNotRegistered}
	}
	r.mu.Lock()
	open := r.mu.open
	if open == 0 {
		r.mu.unregistered = true
	}
	r.mu.Unlock()
	if open != 0 {
		return &fs.PathError{Op: "unregister", Path: name, Err: fmt.Errorf("%w (%d)", ErrInUse, open)}
	}
	sqlvfs.Unregister(name)
	delete(registry.byName, name)
	if r.locks.users--; r.locks.users == 0 {
		delete(registry.tables, r.locks.domain)
	}
	return nil
}

// Check verifies the invariants of the registration called name: its open
// file count is not negative and its lock table is consistent (see
// lockTable.check). Tests call it in cleanup.
func Check(name string) error {
	registry.mu.Lock()
	r := registry.byName[name]
	registry.mu.Unlock()
	if r == nil {
		return &fs.PathError{Op: "check", Path: name, Err: ErrNotRegistered}
	}
	var errs []error
	r.mu.Lock()
	if r.mu.open < 0 {
		errs = append(errs, fmt.Errorf("sqlitevfs: %s: %d open files", name, r.mu.open))
	}
	r.mu.Unlock()
	errs = append(errs, r.locks.check())
	return errors.Join(errs...)
}

func validPageSize(n int) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// hasSharedMemory reports whether name is registered here with
// WithSharedMemory.
func hasSharedMemory(name string) bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	r := registry.byName[name]
	return r != nil && r.cfg.shmDir != ""
}
