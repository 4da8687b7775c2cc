package vfs

import (
	"io/fs"
	"os"
	"sync/atomic"
)

// handle is what each File of this package knows of itself: the name it was
// opened by, its open flags and whether it is closed. Its checks return the
// errors the File contract promises before a call reaches the storage, so
// MemFS and OS refuse the same calls the same way.
//
// A handle is safe for concurrent use: name and flag never change after
// open, closed is atomic.
type handle struct {
	name   string
	flag   int
	closed atomic.Bool
}

func (h *handle) Name() string { return h.name }

// check returns fs.ErrClosed for a call op on a closed handle.
func (h *handle) check(op string) error {
	if h.closed.Load() {
		return &fs.PathError{Op: op, Path: h.name, Err: fs.ErrClosed}
	}
	return nil
}

// close marks the handle closed; a second close gets fs.ErrClosed.
func (h *handle) close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	return nil
}

// writable returns the error of a modifying call op: closed, or ErrReadOnly.
func (h *handle) writable(op string) error {
	if err := h.check(op); err != nil {
		return err
	}
	if h.flag&(os.O_WRONLY|os.O_RDWR) == os.O_RDONLY {
		return &fs.PathError{Op: op, Path: h.name, Err: ErrReadOnly}
	}
	return nil
}

// readAt returns the error of a ReadAt at off: closed, ErrWriteOnly, or
// fs.ErrInvalid for a negative offset.
func (h *handle) readAt(off int64) error {
	if err := h.check("read"); err != nil {
		return err
	}
	if h.flag&(os.O_WRONLY|os.O_RDWR) == os.O_WRONLY {
		return &fs.PathError{Op: "read", Path: h.name, Err: ErrWriteOnly}
	}
	return h.nonNegative("read", off)
}

// resize returns the error of a modifying call op at offset or size n:
// closed, ErrReadOnly, or fs.ErrInvalid for a negative n.
func (h *handle) resize(op string, n int64) error {
	if err := h.writable(op); err != nil {
		return err
	}
	return h.nonNegative(op, n)
}

func (h *handle) nonNegative(op string, n int64) error {
	if n < 0 {
		return &fs.PathError{Op: op, Path: h.name, Err: fs.ErrInvalid}
	}
	return nil
}
