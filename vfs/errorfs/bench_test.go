package errorfs_test

import (
	"os"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// BenchmarkFS_WriteAt measures the wrapper's cost on a 4 KiB write to a
// memory file: bare MemFS, errorfs with no injector, and errorfs with a
// filter chain that never fires.
func BenchmarkFS_WriteAt(b *testing.B) {
	for _, bc := range []struct {
		name string
		fs   func() vfs.FS
	}{
		{"fs=mem", func() vfs.FS { return vfs.NewMem() }},
		{"fs=errorfs-nil", func() vfs.FS { return errorfs.WithErrors(vfs.NewMem(), nil) }},
		{"fs=errorfs-filters", func() vfs.FS {
			return errorfs.WithErrors(vfs.NewMem(),
				errorfs.PathMatch("*.wal", errorfs.OnKinds(errorfs.Always(), errorfs.OpSync)))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := bc.fs().Open("f", os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(buf)))
			for i := 0; b.Loop(); i++ {
				if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
