package vfs_test

import (
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

// The benchmarks measure 4 KiB I/O on a 1 MiB file, cycling through its
// 256 blocks, on MemFS and on OSFS (in a temporary directory on disk).
// Compare them with benchstat; OS/Mem is the cost of the real disk.

const (
	benchBlock  = 4096
	benchBlocks = 256
)

// benchFile returns a 1 MiB file, written and synced.
func benchFile(b *testing.B, fsys vfs.FS) vfs.File {
	b.Helper()
	f, err := fsys.Open("bench", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	buf := make([]byte, benchBlock*benchBlocks)
	for i := range buf {
		buf[i] = byte(i)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

// benchBlocksLoop runs op on one 4 KiB block per iteration, cycling through
// the blocks of a benchFile; after each full pass it calls pass, if not nil,
// with the timer stopped.
func benchBlocksLoop(b *testing.B, fsys vfs.FS, op func(f vfs.File, buf []byte, off int64) error, pass func(f vfs.File) error) {
	f := benchFile(b, fsys)
	buf := make([]byte, benchBlock)
	b.SetBytes(benchBlock)
	for i := 0; b.Loop(); i++ {
		if err := op(f, buf, int64(i%benchBlocks)*benchBlock); err != nil {
			b.Fatal(err)
		}
		if pass != nil && i%benchBlocks == benchBlocks-1 {
			b.StopTimer()
			if err := pass(f); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

func readBlock(f vfs.File, buf []byte, off int64) error {
	_, err := f.ReadAt(buf, off)
	return err
}

func writeBlock(f vfs.File, buf []byte, off int64) error {
	_, err := f.WriteAt(buf, off)
	return err
}

func benchReadAt(b *testing.B, fsys vfs.FS) { benchBlocksLoop(b, fsys, readBlock, nil) }

// benchWriteAt writes without syncing. Every full pass over the file, it
// syncs with the timer stopped, since MemFS keeps every unsynced write
// until the next Sync (see MemFS).
func benchWriteAt(b *testing.B, fsys vfs.FS) {
	benchBlocksLoop(b, fsys, writeBlock, vfs.File.Sync)
}

// benchSync writes one block and syncs the file, as a commit would.
func benchSync(b *testing.B, fsys vfs.FS) {
	benchBlocksLoop(b, fsys, func(f vfs.File, buf []byte, off int64) error {
		if err := writeBlock(f, buf, off); err != nil {
			return err
		}
		return f.Sync()
	}, nil)
}

func newBenchOS(b *testing.B) vfs.FS { return vfs.OS(b.TempDir()) }
func newBenchMem(*testing.B) vfs.FS  { return vfs.NewMem() }

func BenchmarkMem_ReadAt4K(b *testing.B)  { benchReadAt(b, newBenchMem(b)) }
func BenchmarkOS_ReadAt4K(b *testing.B)   { benchReadAt(b, newBenchOS(b)) }
func BenchmarkMem_WriteAt4K(b *testing.B) { benchWriteAt(b, newBenchMem(b)) }
func BenchmarkOS_WriteAt4K(b *testing.B)  { benchWriteAt(b, newBenchOS(b)) }
func BenchmarkMem_Sync4K(b *testing.B)    { benchSync(b, newBenchMem(b)) }
func BenchmarkOS_Sync4K(b *testing.B)     { benchSync(b, newBenchOS(b)) }
