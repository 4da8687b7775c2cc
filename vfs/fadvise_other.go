//go:build !(linux && (amd64 || arm64))

package vfs

import "os"

// dropCache does nothing where posix_fadvise is not called
// (OSOptions.DropCache has no effect there).
func dropCache(*os.File, int64, int64) error { return nil }
