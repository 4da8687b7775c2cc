package sharedcheck

import (
	"errors"
	"os"
	"syscall"
)

// openDirect opens name for reading past the page cache (O_DIRECT), or
// returns errNoDirect where the file system refuses the flag.
func openDirect(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
		return nil, errNoDirect
	}
	return f, err
}
