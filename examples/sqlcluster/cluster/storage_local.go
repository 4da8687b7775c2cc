package cluster

import (
	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/cowlocal"
	"github.com/holeycow/holeycow/vfs"
)

// InProcess returns a StorageFunc for members that share one process: the
// members of one raftcluster/cowlocal group, each a cow.View over shared,
// the writer's stabilizer a cow.Direct over the copiers' views.
func InProcess(shared vfs.FS, opts cow.Options) StorageFunc {
	g := cowlocal.NewGroup(shared, opts)
	return func(id string, eng Engine) (Storage, error) {
		return &procStorage{g.Storage(id, eng)}, nil
	}
}

// procStorage is one member's cowlocal.Storage as a Storage.
//
// Concurrency: as cowlocal.Storage's.
type procStorage struct {
	*cowlocal.Storage
}

var _ Storage = (*procStorage)(nil)

// Attach implements Storage: the node's Guard fences the writer view.
func (s *procStorage) Attach(n *raftcluster.Node) { s.SetGuard(n.Guard()) }

// StabilityAddr implements Storage: the stabilizer is in process.
func (*procStorage) StabilityAddr() string { return "" }

// Close implements Storage; the engine is closed by the node.
func (*procStorage) Close() error { return nil }
