package replicatest

import (
	"io/fs"

	"github.com/holeycow/holeycow/vfs"
)

// syncFS calls after once each Sync, SyncData or SyncDir has succeeded.
type syncFS struct {
	vfs.FS
	after func()
}

func (s *syncFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := s.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncFile{File: f, after: s.after}, nil
}

func (s *syncFS) SyncDir(dir string) error {
	if err := s.FS.SyncDir(dir); err != nil {
		return err
	}
	s.after()
	return nil
}

type syncFile struct {
	vfs.File
	after func()
}

func (f *syncFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.after()
	return nil
}

func (f *syncFile) SyncData() error {
	if err := vfs.SyncData(f.File); err != nil {
		return err
	}
	f.after()
	return nil
}
