package glustertest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/vfstest/gluster"
)

// mountPair is a cow writer view on directory dir of mount 0 of a volume
// and a copier view on the same directory seen through mount 1, its shared
// storage opened by copierFS. The copier stabilizes the writer directly.
type mountPair struct {
	t        *testing.T
	dir      string // on mount 1
	copierFS func(dir string) vfs.FS
	opts     cow.Options

	writer *cow.View
	copier *cow.View
	cfs    vfs.FS // the copier's shared storage
}

// newMountPair creates dir on mount 0 of v and the two views on it.
func newMountPair(t *testing.T, v *gluster.Volume, dir string, copierFS func(dir string) vfs.FS) *mountPair {
	t.Helper()
	if err := os.Mkdir(filepath.Join(v.Mounts[0], dir), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &mountPair{t: t, dir: filepath.Join(v.Mounts[1], dir), copierFS: copierFS, opts: cow.Options{BlockSize: blockSize}}
	p.newCopier()
	writer, err := cow.NewWriter(vfs.OS(filepath.Join(v.Mounts[0], dir)), cow.NewDirect(p.copier), p.opts)
	if err != nil {
		t.Fatal(err)
	}
	p.writer = writer
	return p
}

// newCopier opens a new copier view on mount 1, as a copier process
// restarting on the same host would (the mount's kernel cache outlives
// it), and makes it the one the writer stabilizes.
func (p *mountPair) newCopier() {
	p.t.Helper()
	p.cfs = p.copierFS(p.dir)
	c, err := cow.NewCopier(p.cfs, p.opts)
	if err != nil {
		p.t.Fatal(err)
	}
	p.copier = c
	if p.writer != nil {
		p.writer.SetStabilizer(cow.NewDirect(c))
	}
}
