package sharedcheck_test

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// holdFS is a writer's view whose client caches writes past fsync (as a
// write-back cache that ignores it): a write to a file that hold matches
// reaches the file system only with the next write to that file or at
// Close, and Sync does nothing.
type holdFS struct {
	vfs.FS
	hold func(name string) bool
}

func (h holdFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := h.FS.Open(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 || !h.hold(name) {
		return f, err
	}
	return &holdFile{File: f}, nil
}

type holdFile struct {
	vfs.File
	mu      sync.Mutex
	pending []byte
	off     int64
}

func (f *holdFile) flush() error {
	if f.pending == nil {
		return nil
	}
	_, err := f.File.WriteAt(f.pending, f.off)
	f.pending = nil
	return err
}

func (f *holdFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.flush(); err != nil {
		return 0, err
	}
	f.pending, f.off = append([]byte(nil), p...), off
	return len(p), nil
}

func (f *holdFile) Sync() error { return nil }

func (f *holdFile) Close() error {
	f.mu.Lock()
	err := f.flush()
	f.mu.Unlock()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// quickReadFS is a reader's view that keeps a copy of each file it opened
// for reading and serves that copy to every later open of the name (as a
// client cache of small files' content that nothing invalidates).
type quickReadFS struct {
	vfs.FS
	mu   sync.Mutex
	seen map[string]bool
}

func (q *quickReadFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return q.FS.Open(name, flag, perm)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	cache := "cache/" + strings.ReplaceAll(name, "/", "_")
	if q.seen[name] {
		return q.FS.Open(cache, flag, perm)
	}
	b, err := vfs.ReadFile(q.FS, name)
	if err != nil {
		return nil, err
	}
	if err := vfs.WriteFile(q.FS, cache, b, 0o600); err != nil {
		return nil, err
	}
	q.seen[name] = true
	return q.FS.Open(cache, flag, perm)
}

func results(rep sharedcheck.Report) map[string]sharedcheck.Result {
	m := map[string]sharedcheck.Result{}
	for _, r := range rep.Results {
		m[r.Check] = r
	}
	return m
}

func checkDurable(t *testing.T, views []vfs.FS) map[string]sharedcheck.Result {
	t.Helper()
	rep, err := sharedcheck.Check(context.Background(), views, sharedcheck.Options{Tries: 40, MetaTries: 10, FileSize: 1 << 20})
	require.NoError(t, err)
	t.Logf("%s", rep)
	m := results(rep)
	for _, r := range rep.Failed() {
		require.NotEmpty(t, r.Example, r.Check)
		require.NotEmpty(t, r.Fix, r.Check)
	}
	return m
}

const (
	fresh   = "synced write visible to a fresh open"
	created = "synced new file visible with its data"
	replace = "synced replace by rename visible with its data"
	order   = "synced writes never seen reversed or undone"
)

// TestCheck_syncIgnored: a writer whose fsync returns before its writes
// reach the file system fails the synced-write checks (a fresh open reads
// the old bytes), with write-behind named in the fix.
func TestCheck_syncIgnored(t *testing.T) {
	dir := t.TempDir()
	m := checkDurable(t, []vfs.FS{holdFS{vfs.OS(dir), func(string) bool { return true }}, vfs.OS(dir)})
	require.Positive(t, m[fresh].Failures)
	require.Contains(t, m[fresh].Fix, "performance.write-behind off")
	require.Contains(t, m[fresh].Example, "opening the file anew")
}

// TestCheck_syncReordered: a writer whose fsync of one file is ignored
// (its writes land late) while another's is honoured lets the reader see
// the later write without the earlier: the order check fails, and only
// it.
func TestCheck_syncReordered(t *testing.T) {
	dir := t.TempDir()
	m := checkDurable(t, []vfs.FS{holdFS{vfs.OS(dir), func(n string) bool { return strings.HasSuffix(n, "-a") }}, vfs.OS(dir)})
	require.Positive(t, m[order].Failures)
	for name, r := range m {
		if name != order {
			require.Zero(t, r.Failures, "%s: %s", name, r.Example)
		}
	}
}

// TestCheck_staleOpen: a reader that serves a file's earlier content to a
// fresh open (a content cache nothing invalidates) fails the fresh-open
// and the replace checks; a new name (nothing cached) passes.
func TestCheck_staleOpen(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(dir+"/cache", 0o700))
	m := checkDurable(t, []vfs.FS{vfs.OS(dir), &quickReadFS{FS: vfs.OS(dir)}})
	require.Positive(t, m[fresh].Failures)
	require.Positive(t, m[replace].Failures)
	require.Contains(t, m[replace].Example, "reads the old version")
	require.Zero(t, m[created].Failures, m[created].Example)
}

// staleHandleFS is a reader's view whose name cache leads a read-only
// open of a name it opened before to the file that was there then, gone
// since: ESTALE, as a GlusterFS mount with its default entry cache gives
// after a rename over the name.
type staleHandleFS struct {
	vfs.FS
	mu   sync.Mutex
	seen map[string]bool
}

func (s *staleHandleFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 || !strings.Contains(name, "durable-") {
		return s.FS.Open(name, flag, perm)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ESTALE}
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[name] = true
	return s.FS.Open(name, flag, perm)
}

// TestCheck_staleHandle: a stale file handle where a replaced name should
// lead to the new file is a finding of the replace check, not an error of
// Check.
func TestCheck_staleHandle(t *testing.T) {
	dir := t.TempDir()
	m := checkDurable(t, []vfs.FS{vfs.OS(dir), &staleHandleFS{FS: vfs.OS(dir)}})
	require.Positive(t, m[replace].Failures)
	require.Contains(t, m[replace].Example, "stale file handle")
	require.Zero(t, m[created].Failures, m[created].Example)
}
