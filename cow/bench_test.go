package cow

import (
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

const benchFileSize = 256 * 4096

// loopWrite4K writes the file's 256 blocks in turn for b.N iterations,
// syncing every round to bound the Mem's record of unsynced writes.
func loopWrite4K(b *testing.B, f vfs.File) {
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	i := 0
	for b.Loop() {
		if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		i++
		if i%256 == 0 {
			must(b, f.Sync())
		}
	}
}

// loopRead4K reads the file's 256 blocks in turn for b.N iterations.
func loopRead4K(b *testing.B, f vfs.File) {
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	i := 0
	for b.Loop() {
		if _, err := f.ReadAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchShared(b *testing.B) *vfs.MemFS {
	shared := vfs.NewMem()
	must(b, vfs.WriteFile(shared, "f", make([]byte, benchFileSize), 0o644))
	return shared
}

// BenchmarkMem_WriteAt4K is the baseline: a plain Mem file.
func BenchmarkMem_WriteAt4K(b *testing.B) {
	f, err := benchShared(b).Open("f", os.O_RDWR, 0)
	must(b, err)
	defer f.Close()
	loopWrite4K(b, f)
}

// BenchmarkWriter_WriteAt4K_Steady writes blocks that are already stable:
// the writer's steady state, with no stability round.
func BenchmarkWriter_WriteAt4K_Steady(b *testing.B) {
	shared := benchShared(b)
	c, err := NewCopier(shared, Options{})
	must(b, err)
	w, err := NewWriter(shared, NewDirect(c), Options{})
	must(b, err)
	f, err := w.Open("f", os.O_RDWR, 0)
	must(b, err)
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range 256 { // make every block stable
		_, err := f.WriteAt(buf, int64(i)*4096)
		must(b, err)
	}
	calls := w.Stats().StabilizeCalls
	loopWrite4K(b, f)
	if w.Stats().StabilizeCalls != calls {
		b.Fatal("steady-state writes needed stability rounds")
	}
}

// BenchmarkMem_ReadAt4K is the baseline for copier reads.
func BenchmarkMem_ReadAt4K(b *testing.B) {
	f, err := benchShared(b).Open("f", os.O_RDONLY, 0)
	must(b, err)
	defer f.Close()
	loopRead4K(b, f)
}

func benchCopierRead(b *testing.B, overlaid bool, store Store) {
	c, err := NewCopier(benchShared(b), Options{Store: store})
	must(b, err)
	f, err := c.Open("f", os.O_RDWR, 0)
	must(b, err)
	defer f.Close()
	buf := make([]byte, 4096)
	if overlaid {
		for i := range 256 {
			_, err := f.WriteAt(buf, int64(i)*4096)
			must(b, err)
		}
	} else {
		// The file is in the overlay (its size is), its blocks are not.
		must(b, f.Truncate(benchFileSize))
		_, err := f.WriteAt(buf[:1], benchFileSize)
		must(b, err)
		must(b, f.Truncate(benchFileSize))
	}
	loopRead4K(b, f)
}

// BenchmarkCopier_ReadAt4K_Hit reads blocks held in the overlay.
func BenchmarkCopier_ReadAt4K_Hit(b *testing.B) { benchCopierRead(b, true, NewMemStore()) }

// BenchmarkCopier_ReadAt4K_Miss reads blocks from shared storage.
func BenchmarkCopier_ReadAt4K_Miss(b *testing.B) { benchCopierRead(b, false, NewMemStore()) }

// BenchmarkCopier_ReadAt4K_HitDirStore reads overlay blocks spilled to a
// (memory) scratch FS, checksum included.
func BenchmarkCopier_ReadAt4K_HitDirStore(b *testing.B) {
	st, err := NewDirStore(vfs.NewMem())
	must(b, err)
	benchCopierRead(b, true, st)
}
