package localcluster

import (
	"cmp"
	"errors"
	"log/slog"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability/stabilitytest"
	"github.com/holeycow/holeycow/vfs"
)

// InProcessOptions configures InProcess.
type InProcessOptions struct {
	// Network carries the members' stability protocol: one in-memory
	// network per in-process cluster (nil: InProcess makes one for the
	// members its StorageFunc makes).
	Network *stabilitytest.Network
	// Lease is the stability copier lease (netstorage's default 2s); keep
	// it above the failover time.
	Lease time.Duration
	// Logger (nil discards).
	Logger *slog.Logger
}

// InProcess returns a cluster.StorageFunc for members that share one
// process: raftcluster/netstorage, as cluster.Networked, with its
// stability protocol on o.Network instead of gRPC. Member id's stability
// address is id.
func InProcess(shared vfs.FS, o InProcessOptions) cluster.StorageFunc {
	snet := o.Network
	if snet == nil {
		snet = stabilitytest.NewNetwork(1)
	}
	logger := cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	return func(id string, eng cluster.Engine) (cluster.Storage, error) {
		st, err := netstorage.New(netstorage.Config{ID: id, Shared: shared, Transport: snet.Transport(id), Engine: eng,
			View: cow.Options{BlockSize: cluster.PageSize}, Lease: o.Lease, Logger: logger})
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

var _ cluster.Storage = (*memStorage)(nil)

// Attach implements cluster.Storage.
func (s *memStorage) Attach(n *raftcluster.Node) { s.SetNode(n) }

// StabilityAddr implements cluster.Storage: the member's address on the
// network.
func (s *memStorage) StabilityAddr() string { return s.addr }

// Close implements cluster.Storage: the endpoint leaves the network
// (messages to it are lost, as to a dead host's) once the Storage has
// closed. A member restarted under the same ID listens again.
func (s *memStorage) Close() error {
	err := s.Storage.Close()
	s.net.Unlisten(s.addr)
	if errors.Is(err, netstorage.ErrClosed) {
		err = nil
	}
	return err
}
