package errorfs

import (
	"sync/atomic"
	"syscall"

	"github.com/holeycow/holeycow/vfs"
)

// Quota is an Injector that makes a file system full: while a limit is
// set, a write or truncate that would grow a file, and with it the total
// size of the files under the root of fsys, past the limit fails with
// syscall.ENOSPC, as a full disk does. Writes within a file's size, and
// truncates that shrink it, still succeed, and free space.
//
// fsys is the file system whose usage counts: the inner FS of the FS that
// the Quota guards (errorfs.WithErrors(inner, q) with q := NewQuota(inner)).
// Usage is summed at each growing op (List and Stat of the whole tree), so
// keep Quota to small test trees.
//
// Concurrency: safe for concurrent use. Two concurrent growing writes may
// both pass the check and end slightly past the limit.
type Quota struct {
	fsys  vfs.FS
	limit atomic.Int64
}

// NewQuota returns a Quota over fsys with no limit set.
func NewQuota(fsys vfs.FS) *Quota { return &Quota{fsys: fsys} }

// SetLimit sets the limit in bytes; 0 or less removes it.
func (q *Quota) SetLimit(bytes int64) { q.limit.Store(bytes) }

// Fill sets the limit to what the files use now plus slack bytes.
func (q *Quota) Fill(slack int64) error {
	used, err := q.Used()
	if err != nil {
		return err
	}
	q.SetLimit(used + slack)
	return nil
}

// Used returns the total size of the files under the root of fsys.
func (q *Quota) Used() (int64, error) { return vfs.TreeSize(q.fsys, ".") }

// MaybeError implements Injector.
func (q *Quota) MaybeError(op Op) error {
	limit := q.limit.Load()
	if limit <= 0 {
		return nil
	}
	var end int64
	switch op.Kind {
	case OpWrite:
		end = op.Off + op.Len
	case OpTruncate:
		end = op.Off
	default:
		return nil
	}
	var cur int64
	if fi, err := q.fsys.Stat(op.Path); err == nil {
		cur = fi.Size()
	}
	if end <= cur {
		return nil
	}
	used, err := q.Used()
	if err != nil {
		return nil // cannot tell: let the op through
	}
	if used+end-cur > limit {
		return syscall.ENOSPC
	}
	return nil
}
