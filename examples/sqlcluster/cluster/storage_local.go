package cluster

import (
	"cmp"
	"errors"
	"log/slog"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// InProcess returns a StorageFunc for members that share one process:
// raftcluster/netstorage, as Networked, with its stability protocol on
// o.Network (an in-memory network that the members of one cluster share;
// nil: a new one for the members this StorageFunc makes) instead of gRPC.
// Member id's stability address is id. Of o, only Network, Lease and
// Logger apply.
func InProcess(shared vfs.FS, o NetOptions) StorageFunc {
	snet := o.Network
	if snet == nil {
		snet = stabilitytest.NewNetwork(1)
	}
	logger := cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	return func(id string, eng Engine) (Storage, error) {
		st, err := netstorage.New(netstorage.Config{ID: id, Shared: shared, Transport: snet.Transport(id), Engine: eng,
			View: cow.Options{BlockSize: PageSize}, Lease: o.Lease, Logger: logger})
		if err != nil {
			return nil, err
		}
		snet.Listen(id, st.Handler())
		return &memStorage{Storage: st, net: snet, addr: id}, nil
	}
}

// memStorage is a netstorage.Storage with its stability endpoint on an
// in-memory network.
//
// Concurrency: as netstorage.Storage's.
type memStorage struct {
	*netstorage.Storage
	net  *stabilitytest.Network
	addr string
}

var _ Storage = (*memStorage)(nil)

// Attach implements Storage.
func (s *memStorage) Attach(n *raftcluster.Node) { s.SetNode(n) }

// StabilityAddr implements Storage: the member's address on the network.
func (s *memStorage) StabilityAddr() string { return s.addr }

// Close implements Storage: the endpoint leaves the network (messages to
// it are lost, as to a dead host's) once the Storage has closed. A member
// restarted under the same ID listens again.
func (s *memStorage) Close() error {
	err := s.Storage.Close()
	s.net.Unlisten(s.addr)
	if errors.Is(err, netstorage.ErrClosed) {
		err = nil
	}
	return err
}
