package vfstest

import (
	"fmt"
	"path"
	"slices"

	"github.com/holeycow/holeycow/vfs"
)

// Snapshot reads the whole tree of fsys: a file's path maps to its content
// and a directory's path, with "/" appended, to "". Tests compare snapshots to check that two file systems,
// or one file system at two moments, hold the same names and bytes.
// It returns the first error met while listing, stating or reading.
func Snapshot(fsys vfs.FS) (map[string]string, error) {
	snap := make(map[string]string)
	var walk func(dir string) error
	walk = func(dir string) error {
		names, err := fsys.List(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			p := n
			if dir != "." {
				p = path.Join(dir, n)
			}
			fi, err := fsys.Stat(p)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				snap[p+"/"] = ""
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			data, err := vfs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			snap[p] = string(data)
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	return snap, nil
}

// DiffSnapshots describes, one line per name in name order, how got differs
// from want (contents cut to 40 bytes), or returns "" when they are equal.
func DiffSnapshots(got, want map[string]string) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var d string
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			d += fmt.Sprintf("\n  %q missing, want %q", k, cut(w))
		case !wok:
			d += fmt.Sprintf("\n  %q = %q, want missing", k, cut(g))
		case g != w:
			d += fmt.Sprintf("\n  %q = %q, want %q", k, cut(g), cut(w))
		}
	}
	return d
}

func cut(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
