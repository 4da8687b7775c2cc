package sharedcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"syscall"

	"github.com/holeycow/holeycow/vfs"
)

// Fixes of the synced-write findings.
const (
	fixFresh = "fsync must reach the server before it returns, and an open must not serve pages cached before it: " +
		"GlusterFS performance.write-behind off, mount with direct-io-mode=enable (or drop the page cache at each open, " +
		"as serve does on a network mount: vfs.OSOptions.DropCacheOnOpen), performance.quick-read, io-cache and " +
		"open-behind off; NFS: close-to-open holds unless nocto: mount without nocto, with noac (or actimeo=0)"
	fixCreate = "a synced new name must be found at once: GlusterFS mount with entry-timeout=0 and negative-timeout=0, " +
		"performance.stat-prefetch off; NFS: lookupcache=none"
	fixReplace = "a name renamed over must lead to the new file at once, with its content: GlusterFS mount with " +
		"entry-timeout=0 and attribute-timeout=0, performance.quick-read, stat-prefetch and open-behind off; " +
		"NFS: lookupcache=none, noac"
	fixOrder = "a synced write must never land after a later one nor be undone: fsync must not return before the " +
		"write reached the server (GlusterFS performance.write-behind off; NFS: export with sync, mount hard), and " +
		"no client cache may serve older pages (GlusterFS mount with direct-io-mode=enable, performance.io-cache and " +
		"read-ahead off; NFS: noac)"
)

// durability checks what two views can observe of fsync's promise: once
// the writer's fsync (of the file, and of its directory after a create or
// rename) has returned, the data is what the other views read, through a
// descriptor opened afresh, under the file's new name, and never in
// another order than it was synced.
func (c *checker) durability(ctx context.Context) ([]Result, error) {
	fresh := Result{Check: "synced write visible to a fresh open"}
	create := Result{Check: "synced new file visible with its data"}
	replace := Result{Check: "synced replace by rename visible with its data"}
	order := Result{Check: "synced writes never seen reversed or undone"}
	for _, p := range c.pairs() {
		if err := c.freshOpen(ctx, p, &fresh); err != nil {
			return nil, err
		}
		if err := c.syncedNames(ctx, p, &create, &replace); err != nil {
			return nil, err
		}
		if err := c.syncOrder(ctx, p, &order); err != nil {
			return nil, err
		}
	}
	for _, x := range []struct {
		r   *Result
		fix string
	}{{&fresh, fixFresh}, {&create, fixCreate}, {&replace, fixReplace}, {&order, fixOrder}} {
		if x.r.Failures > 0 {
			x.r.Fix = x.fix
		}
	}
	return []Result{fresh, create, replace, order}, nil
}

// fail counts a failure, keeping the first example.
func fail(r *Result, format string, args ...any) {
	r.Failures++
	if r.Example == "" {
		r.Example = fmt.Sprintf(format, args...)
	}
}

// freshOpen: the reader reads a range (so its caches hold it), the writer
// writes it and syncs, and the reader opens the file anew and reads it.
// That is how a copier reads after a reset or restart: a fresh open of
// what the writer synced before the handshake.
func (c *checker) freshOpen(ctx context.Context, p [2]int, r *Result) error {
	name := path.Join(c.dir, fmt.Sprintf("fresh-%d-%d", p[0], p[1]))
	w, err := c.views[p[0]].Open(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sharedcheck: %w", err)
	}
	defer w.Close()
	if err := w.Truncate(c.o.FileSize); err != nil {
		return fmt.Errorf("sharedcheck: %w", err)
	}
	if err := w.Sync(); err != nil {
		return fmt.Errorf("sharedcheck: %w", err)
	}
	kept, err := openRetry(c.views[p[1]], name)
	if err != nil {
		return err
	}
	defer kept.Close()
	for range max(1, c.o.Tries/2/len(c.pairs())) {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := 4096
		off := c.rng.Int64N(c.o.FileSize/4096) * 4096
		got := make([]byte, size)
		if _, err := kept.ReadAt(got, off); err != nil && err != io.EOF {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(c.rng.Uint32())
		}
		if _, err := w.WriteAt(buf, off); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if err := w.Sync(); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		rd, err := c.views[p[1]].Open(name, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		clear(got)
		_, err = rd.ReadAt(got, off)
		rd.Close()
		if err != nil && err != io.EOF {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		r.Tries++
		if !bytes.Equal(got, buf) {
			fail(r, "view %d wrote 4096 bytes at %d and synced; view %d, opening the file anew, read other bytes", p[0], off, p[1])
		}
	}
	return nil
}

// syncedNames: the writer creates a file, writes it, syncs it and its
// directory; the reader opens it by name at once and reads it whole. Then
// the writer writes a new version under a temporary name, syncs it,
// renames it over the first and syncs the directory (an atomic replace);
// the reader, which had read the old version, opens the name again and
// must read the new one.
func (c *checker) syncedNames(ctx context.Context, p [2]int, create, replace *Result) error {
	wv, rv := c.views[p[0]], c.views[p[1]]
	put := func(name string, data []byte) error {
		f, err := wv.Open(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			f.Close()
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		return nil
	}
	for i := range max(1, c.o.MetaTries/len(c.pairs())) {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Join(c.dir, fmt.Sprintf("durable-%d-%d-%d", p[0], p[1], i))
		tmp := name + ".tmp"
		// Look the name up first, so a negative cache has an entry.
		rv.Stat(name)
		v1 := make([]byte, 1+c.rng.IntN(16<<10))
		for j := range v1 {
			v1[j] = byte(c.rng.Uint32())
		}
		if err := put(name, v1); err != nil {
			return err
		}
		if err := wv.SyncDir(c.dir); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		got, err := vfs.ReadFile(rv, name) // no retry
		create.Tries++
		switch {
		case errors.Is(err, syscall.ESTALE):
			fail(create, "view %d created %s, wrote %d bytes and synced it and its directory; view %d gets a stale file handle", p[0], name, len(v1), p[1])
		case errors.Is(err, os.ErrNotExist):
			fail(create, "view %d created %s, wrote %d bytes and synced it and its directory; view %d does not find it", p[0], name, len(v1), p[1])
		case err != nil:
			return fmt.Errorf("sharedcheck: %w", err)
		case !bytes.Equal(got, v1):
			fail(create, "view %d created %s, wrote %d bytes and synced it and its directory; view %d reads %d other bytes", p[0], name, len(v1), p[1], len(got))
		}
		// A new version of a different size and content replaces it.
		v2 := make([]byte, 1+c.rng.IntN(16<<10))
		for j := range v2 {
			v2[j] = byte(c.rng.Uint32())
		}
		if err := put(tmp, v2); err != nil {
			return err
		}
		if err := wv.Rename(tmp, name); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if err := wv.SyncDir(c.dir); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		got, err = vfs.ReadFile(rv, name)
		replace.Tries++
		switch {
		case errors.Is(err, syscall.ESTALE):
			// The reader's name cache leads to the file renamed over.
			fail(replace, "view %d renamed a synced new version over %s and synced the directory; view %d gets a stale file handle", p[0], name, p[1])
		case errors.Is(err, os.ErrNotExist):
			fail(replace, "view %d renamed a synced new version over %s and synced the directory; view %d does not find it", p[0], name, p[1])
		case err != nil:
			return fmt.Errorf("sharedcheck: %w", err)
		case bytes.Equal(got, v1):
			fail(replace, "view %d renamed a synced new version over %s and synced the directory; view %d reads the old version", p[0], name, p[1])
		case !bytes.Equal(got, v2):
			fail(replace, "view %d renamed a synced new version (%d bytes) over %s and synced the directory; view %d reads %d other bytes", p[0], len(v2), name, p[1], len(got))
		}
		wv.Remove(name)
	}
	return nil
}

// syncOrder: the writer counts up in two files, a then b, syncing each
// write; meanwhile the reader reads b's counter, then a's. Since a reached
// i before b was written i, reading b = i and then a < i is a reversed
// order, and a counter that goes down was undone. A last read after the
// writer is done samples the end state.
func (c *checker) syncOrder(ctx context.Context, p [2]int, r *Result) error {
	const block = 4096
	wv, rv := c.views[p[0]], c.views[p[1]]
	var files [2]struct{ w, r vfs.File }
	for j := range files {
		name := path.Join(c.dir, fmt.Sprintf("order-%d-%d-%c", p[0], p[1], 'a'+j))
		w, err := wv.Open(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		defer w.Close()
		if _, err := w.WriteAt(counterBlock(0), 0); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		if err := w.Sync(); err != nil {
			return fmt.Errorf("sharedcheck: %w", err)
		}
		rd, err := openRetry(rv, name)
		if err != nil {
			return err
		}
		defer rd.Close()
		files[j].w, files[j].r = w, rd
	}
	steps := max(1, c.o.Tries/len(c.pairs()))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 1; i <= steps && ctx.Err() == nil; i++ {
			for _, f := range files {
				if _, err := f.w.WriteAt(counterBlock(uint64(i)), 0); err != nil {
					werr = err
					return
				}
				if err := f.w.Sync(); err != nil {
					werr = err
					return
				}
			}
		}
	}()
	// read returns a file's counter, reading again (a few times) while the
	// block is torn by a write in progress; ok is false if it stays torn.
	buf := make([]byte, block)
	read := func(f vfs.File) (v uint64, ok bool, err error) {
		for range 4 {
			if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
				return 0, false, err
			}
			if v, ok := counterOf(buf); ok {
				return v, true, nil
			}
		}
		return 0, false, nil
	}
	var last [2]uint64
	sample := func() error {
		b, okb, err := read(files[1].r)
		if err != nil {
			return err
		}
		a, oka, err := read(files[0].r)
		if err != nil {
			return err
		}
		if !oka || !okb {
			return nil
		}
		r.Tries++
		switch {
		case a < b:
			fail(r, "view %d synced counter a = %d before writing b = %d; view %d read b = %d, then a = %d", p[0], b, b, p[1], b, a)
		case a < last[0] || b < last[1]:
			fail(r, "view %d read counters (a, b) = (%d, %d) after (%d, %d): a synced write undone", p[1], a, b, last[0], last[1])
		}
		last = [2]uint64{max(a, last[0]), max(b, last[1])}
		return nil
	}
	var rerr error
	for range 4 * steps {
		if finished(done) {
			break
		}
		if rerr = sample(); rerr != nil {
			cancel()
			break
		}
	}
	wg.Wait()
	if rerr == nil && werr == nil {
		rerr = sample()
	}
	if err := errors.Join(werr, rerr); err != nil {
		return fmt.Errorf("sharedcheck: %w", err)
	}
	return ctx.Err()
}

// counterBlock is a 4 KiB block holding v in each of its 512 words (a
// torn read shows as words that differ).
func counterBlock(v uint64) []byte {
	b := make([]byte, 4096)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], v)
	}
	return b
}

func counterOf(b []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(b)
	for i := 8; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != v {
			return 0, false
		}
	}
	return v, true
}

func finished(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
