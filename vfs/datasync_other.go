//go:build !linux

package vfs

import "os"

// datasync makes f's data durable. Without fdatasync(2), it is f.Sync.
func datasync(f *os.File) error { return f.Sync() }
