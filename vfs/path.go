package vfs

import (
	"io/fs"
	"os"
	"path"
)

// CheckPath reports whether name is a valid path for op: slash separated,
// relative, clean and not empty (see fs.ValidPath). It returns nil or an
// *fs.PathError wrapping fs.ErrInvalid.
func CheckPath(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// CheckFlag reports whether flag holds only the bits FS.Open accepts. It
// returns nil or an *fs.PathError wrapping fs.ErrInvalid.
func CheckFlag(name string, flag int) error {
	const known = os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL | os.O_TRUNC
	if flag&^known != 0 || flag&(os.O_WRONLY|os.O_RDWR) == os.O_WRONLY|os.O_RDWR {
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// Dir returns the parent directory of a valid path; "." for a top-level name.
func Dir(name string) string { return path.Dir(name) }
