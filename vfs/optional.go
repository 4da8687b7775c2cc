package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
)

// DataSyncer is a File that can make its data durable without its metadata
// (fdatasync). Pebble and goleveldb use it for their logs. Use SyncData,
// which falls back to Sync.
type DataSyncer interface {
	SyncData() error
}

// SyncData makes f's data durable, with f.SyncData when f implements
// DataSyncer, otherwise with f.Sync.
func SyncData(f File) error {
	if ds, ok := f.(DataSyncer); ok {
		return ds.SyncData()
	}
	return f.Sync()
}

// RemoveAller is an FS that can remove a tree in one call. Use RemoveAll,
// which falls back to removing entry by entry.
type RemoveAller interface {
	RemoveAll(name string) error
}

// RemoveAll removes name and everything below it. A missing name is not an
// error, as with os.RemoveAll.
func RemoveAll(fsys FS, name string) error {
	if ra, ok := fsys.(RemoveAller); ok {
		return ra.RemoveAll(name)
	}
	if err := CheckPath("removeall", name); err != nil {
		return err
	}
	fi, err := fsys.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		names, err := fsys.List(name)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := RemoveAll(fsys, path.Join(name, n)); err != nil {
				return err
			}
		}
		if name == "." {
			return nil
		}
	}
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ReadFile reads a whole file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// WriteFile creates or truncates name and writes data to it. It does not
// sync.
func WriteFile(fsys FS, name string, data []byte, perm fs.FileMode) error {
	f, err := fsys.Open(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
