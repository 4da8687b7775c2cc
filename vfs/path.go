package vfs

import (
	"io/fs"
	"os"
	"path"
	"strings"
)

// MaxNameLen is the longest path element, in bytes, that CheckPath accepts.
// It is NAME_MAX on Linux and most other systems, so that a name valid on
// one FS of this package is valid on all of them.
const MaxNameLen = 255

// CheckPath reports whether name is a valid path for op: valid UTF-8, slash
// separated, relative, clean and not empty (see fs.ValidPath), with no NUL
// byte and no element longer than MaxNameLen bytes. It returns nil or an *fs.PathError
// wrapping fs.ErrInvalid.
func CheckPath(op, name string) error {
	if !fs.ValidPath(name) || strings.IndexByte(name, 0) >= 0 || !shortElems(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// shortElems reports whether every element of name is at most MaxNameLen
// bytes long.
func shortElems(name string) bool {
	for len(name) > MaxNameLen {
		i := strings.IndexByte(name, '/')
		if i < 0 || i > MaxNameLen {
			return false
		}
		name = name[i+1:]
	}
	return true
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
