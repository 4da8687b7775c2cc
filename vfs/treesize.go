package vfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// maxTreeDepth bounds the directory nesting TreeSize descends.
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
