package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Whole-tree walks over an FS: TreeSize and SyncTree.

// maxTreeDepth bounds the directory nesting TreeSize and SyncTree descend.
const maxTreeDepth = 32

// TreeSize returns the total size of the files under dir ("." for the
// root) of fsys. Files removed while it walks are skipped; a tree nested
// deeper than 32 directories is an error.
func TreeSize(fsys FS, dir string) (int64, error) { return treeSize(fsys, dir, 0) }

func treeSize(fsys FS, dir string, depth int) (int64, error) {
	if depth > maxTreeDepth {
		return 0, fmt.Errorf("vfs: tree size: %s nested too deep", dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, name := range names {
		p := name
		if dir != "." {
			p = dir + "/" + name
		}
		fi, err := fsys.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return 0, err
		}
		if fi.IsDir() {
			n, err := treeSize(fsys, p, depth+1)
			if err != nil {
				return 0, err
			}
			total += n
			continue
		}
		total += fi.Size()
	}
	return total, nil
}

// SyncTree makes the tree under dir ("." for the root) of fsys durable:
// every directory's entries, children before their parent, and with files
// the content of every file too. It stops at the first error.
func SyncTree(fsys FS, dir string, files bool) error { return syncTree(fsys, dir, files, 0) }

func syncTree(fsys FS, dir string, files bool, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("vfs: sync tree: %s nested too deep", dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := name
		if dir != "." {
			p = dir + "/" + name
		}
		fi, err := fsys.Stat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			err = syncTree(fsys, p, files, depth+1)
		case files:
			err = syncFile(fsys, p)
		}
		if err != nil {
			return err
		}
	}
	return fsys.SyncDir(dir)
}

func syncFile(fsys FS, name string) error {
	f, err := fsys.Open(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
