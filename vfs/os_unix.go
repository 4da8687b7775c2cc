//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package vfs

import (
	"errors"
	"os"
	"syscall"
)

// fileKey identifies a file on disk: its device and inode.
type fileKey struct{ dev, ino uint64 }

// keyOf returns the key of the open file f.
func keyOf(f *os.File, _, _ string) (fileKey, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, errors.New("vfs: no inode number")
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// funlock releases f's flock(2) explicitly. Closing the descriptor
// releases it too, but on FUSE file systems (GlusterFS) only when the
// asynchronous release reaches the server, after close returned: another
// mount may then still find the file locked.
func funlock(f *os.File) error { return flockOp(f, syscall.LOCK_UN) }

// flock takes a non-blocking exclusive flock(2) on f; ErrLocked if another
// open file description holds one.
func flock(f *os.File) error {
	err := flockOp(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return ErrLocked
	}
	return err
}

// flockOp runs flock(2) with how on f, again after EINTR.
func flockOp(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				break
			}
		}
	})
	if err != nil {
		return err
	}
	return ferr
}
