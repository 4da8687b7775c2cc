package pebblevfs

import (
	"io/fs"
	"time"
)

// openInfo describes an open file from its size alone (a vfs.File has no
// Stat).
type openInfo struct {
	name string
	size int64
}

func (i openInfo) Name() string       { return i.name }
func (i openInfo) Size() int64        { return i.size }
func (i openInfo) Mode() fs.FileMode  { return 0o644 }
func (i openInfo) ModTime() time.Time { return time.Time{} }
func (i openInfo) IsDir() bool        { return false }
func (i openInfo) Sys() any           { return nil }
