//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package vfs

import (
	"os"
	"path/filepath"
)

// fileKey identifies a file on disk. Without inode numbers, it is the
// file's absolute path.
type fileKey struct{ path string }

// keyOf returns the key of the file name under dir.
func keyOf(_ *os.File, dir, name string) (fileKey, error) {
	return fileKey{path: filepath.Join(dir, filepath.FromSlash(name))}, nil
}

// flock does nothing on this system: Lock excludes only other Locks in
// this process.
func flock(*os.File) error { return nil }

func funlock(*os.File) error { return nil }
