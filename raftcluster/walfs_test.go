package raftcluster

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// walEntries returns entries first..last with 64 KiB of data each, so
// that a 1 MiB segment holds about 16.
func walEntries(first, last uint64) []*raft.Log {
	var ls []*raft.Log
	for i := first; i <= last; i++ {
		d := make([]byte, 64<<10)
		binary.LittleEndian.PutUint64(d, i)
		ls = append(ls, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: d})
	}
	return ls
}

// TestWALVFS_rotateReopen: entries spread over several segments (made by
// walVFS.Create) read back after a reopen (the tail through OpenWriter),
// and appends after the reopen land in the reopened tail.
func TestWALVFS_rotateReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Stores, func()) {
		st, closers, err := OpenDiskStores(dir, LogStoreWAL)
		require.NoError(t, err)
		return st, func() { closeAll(closers) }
	}
	st, closeFn := open()
	for i := uint64(1); i <= 40; i++ { // one append each: a segment rotates after the append that fills it
		require.NoError(t, st.Log.StoreLogs(walEntries(i, i)))
	}
	closeFn()
	segs, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(segs), 2, "the entries should span several segments")

	st, closeFn = open()
	require.NoError(t, st.Log.StoreLogs(walEntries(41, 45)))
	closeFn()
	st, closeFn = open()
	defer closeFn()
	last, err := st.Log.LastIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(45), last)
	for i := uint64(1); i <= 45; i++ {
		var l raft.Log
		require.NoError(t, st.Log.GetLog(i, &l))
		require.Equal(t, i, binary.LittleEndian.Uint64(l.Data), "entry %d", i)
		require.Len(t, l.Data, 64<<10)
	}
}

// TestWALVFS_segmentsWritten: every segment is fully written at its
// creation, with no unwritten (fallocated) extent left, so that a commit
// overwrites allocated blocks and its fdatasync needs no journal commit.
// raft-wal's own file system, which fallocates, fails this test. Skipped
// where the file system does not answer FIEMAP (tmpfs).
func TestWALVFS_segmentsWritten(t *testing.T) {
	dir := t.TempDir()
	st, closers, err := OpenDiskStores(dir, LogStoreWAL)
	require.NoError(t, err)
	defer closeAll(closers)
	for i := uint64(1); i <= 20; i++ {
		require.NoError(t, st.Log.StoreLogs(walEntries(i, i)))
	}
	segs, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	for _, seg := range segs {
		fi, err := os.Stat(seg)
		require.NoError(t, err)
		require.GreaterOrEqual(t, fi.Size(), int64(WALSegmentSize), seg)
		unwritten, err := unwrittenExtents(seg)
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
			t.Skipf("FIEMAP not supported here: %v", err)
		}
		require.NoError(t, err)
		require.Zero(t, unwritten, "%s has unwritten extents", filepath.Base(seg))
	}
}

// TestWALVFS_syncIsFdatasync: Sync succeeds on a segment and reports a
// closed file as a *os.PathError naming it.
func TestWALVFS_syncIsFdatasync(t *testing.T) {
	dir := t.TempDir()
	v := newWALVFS()
	f, err := v.Create(dir, "s.wal", 64<<10)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("frame"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	err = f.Sync()
	var pe *os.PathError
	require.ErrorAs(t, err, &pe)
	require.True(t, strings.HasSuffix(pe.Path, "s.wal"), pe.Path)
	_, err = v.Create(dir, "s.wal", 64<<10)
	require.ErrorIs(t, err, os.ErrExist, "Create must not reuse a file")
}

// unwrittenExtents counts the extents of path that FIEMAP reports as
// unwritten (allocated but reading as zeros, converted at the first
// write).
func unwrittenExtents(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const (
		fsIocFiemap        = 0xC020660B // _IOWR('f', 11, struct fiemap)
		fiemapFlagSync     = 0x1
		fiemapExtUnwritten = 0x800
		fiemapExtLast      = 0x1
		headerSize         = 32
		extentSize         = 56
		maxExtents         = 64
	)
	count := 0
	for start, rounds := uint64(0), 0; rounds < 1000; rounds++ {
		buf := make([]byte, headerSize+extentSize*maxExtents)
		binary.LittleEndian.PutUint64(buf[0:], start)
		binary.LittleEndian.PutUint64(buf[8:], ^uint64(0)-start)
		binary.LittleEndian.PutUint32(buf[16:], fiemapFlagSync)
		binary.LittleEndian.PutUint32(buf[24:], maxExtents)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
			return 0, errno
		}
		mapped := int(binary.LittleEndian.Uint32(buf[20:]))
		if mapped == 0 {
			return count, nil
		}
		for i := range mapped {
			e := buf[headerSize+i*extentSize:]
			logical := binary.LittleEndian.Uint64(e[0:])
			length := binary.LittleEndian.Uint64(e[16:])
			flags := binary.LittleEndian.Uint32(e[40:])
			if flags&fiemapExtUnwritten != 0 {
				count++
			}
			if flags&fiemapExtLast != 0 {
				return count, nil
			}
			start = logical + length
		}
	}
	return count, errors.New("raftcluster test: FIEMAP: too many extents")
}
