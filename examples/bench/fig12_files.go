package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// largestFiles lists the files under dir that hold at least least bytes on
// disk (allocated blocks), largest first, as "path size" (path relative
// to dir), and the rest as one "others" entry: where space_amplification
// puts its bytes.
func largestFiles(dir string, least int64) (string, error) {
	type file struct {
		path string
		size int64 // allocated
		len  int64 // apparent
	}
	var files []file
	var rest, restN int64
	err := walkFiles(dir, func(path string, fi fs.FileInfo, alloc int64) {
		if fi.IsDir() {
			return
		}
		if alloc < least {
			rest += alloc
			restN++
			return
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, file{rel, alloc, fi.Size()})
	})
	if err != nil {
		return "", err
	}
	slices.SortFunc(files, func(a, b file) int { return int(b.size - a.size) })
	var parts []string
	for _, f := range files {
		s := fmt.Sprintf("%s %.2f MB", f.path, float64(f.size)/1e6)
		if f.len != f.size {
			s += fmt.Sprintf(" (length %.2f MB)", float64(f.len)/1e6)
		}
		parts = append(parts, s)
	}
	if restN > 0 {
		parts = append(parts, fmt.Sprintf("%d others %.2f MB", restN, float64(rest)/1e6))
	}
	return strings.Join(parts, ", "), nil
}

// walkFiles calls fn for dir and everything under it with its info and
// the bytes allocated to it on disk (as du counts them); files removed
// while it walks (an overlay dropped) are skipped.
func walkFiles(dir string, fn func(path string, fi fs.FileInfo, alloc int64)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		alloc := fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			alloc = st.Blocks * 512
		}
		fn(path, fi, alloc)
		return nil
	})
}

// staleSegments counts the raft-wal segment files under dir
// ("BASE-ID.wal", BASE the segment's first index) that hold only entries
// before first, the log's first index (the next segment starts at or
// before it), and the bytes allocated to them: what log compaction should
// have deleted.
func staleSegments(dir string, first uint64) (n int, bytes int64, err error) {
	type seg struct {
		base  uint64
		alloc int64
	}
	var segs []seg
	err = walkFiles(dir, func(path string, fi fs.FileInfo, alloc int64) {
		var base, id uint64
		if _, err := fmt.Sscanf(filepath.Base(path), "%d-%x.wal", &base, &id); err == nil && !fi.IsDir() {
			segs = append(segs, seg{base, alloc})
		}
	})
	if err != nil {
		return 0, 0, err
	}
	slices.SortFunc(segs, func(a, b seg) int { return cmp.Compare(a.base, b.base) })
	for i := 0; i+1 < len(segs); i++ {
		if segs[i+1].base <= first {
			n++
			bytes += segs[i].alloc
		}
	}
	return n, bytes, nil
}
