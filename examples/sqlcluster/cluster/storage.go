package cluster

import (
	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/cowlocal"
	"github.com/holeycow/holeycow/vfs"
)

// Storage is what a Node needs from its storage layer: a
// raftcluster.Storage that hands the member's current view to the Engine
// it was made with.
type Storage interface {
	raftcluster.Storage
	// Attach hands over the member's node right after raftcluster.New
	// (its Guard fences the writer view).
	Attach(n *raftcluster.Node)
	// StabilityAddr is where the member's stability endpoint listens
	// ("" for in-process storage).
	StabilityAddr() string
	// Check verifies the storage's invariants.
	Check() error
	// Close ends the storage's roles, after the node has shut down.
	Close() error
}

// Engine is the side of a Node that a Storage drives: it closes the
// database before the view changes and opens it (and catches up from the
// log) on the new view. It is cowlocal's Engine.
type Engine = cowlocal.Engine

// StorageFunc makes member id's Storage, driving eng.
type StorageFunc func(id string, eng Engine) (Storage, error)

// CowLocal returns a StorageFunc over raftcluster/cowlocal (see the
// package's Caveats: prefer InProcess).
func CowLocal(shared vfs.FS, opts cow.Options) StorageFunc {
	g := cowlocal.NewGroup(shared, opts)
	return func(id string, eng Engine) (Storage, error) { return cowlocalStorage{g.Storage(id, eng)}, nil }
}

type cowlocalStorage struct{ *cowlocal.Storage }

func (s cowlocalStorage) Attach(n *raftcluster.Node) { s.SetGuard(n.Guard()) }
func (s cowlocalStorage) StabilityAddr() string      { return "" }
func (s cowlocalStorage) Close() error               { return nil }

// StorageKind selects the storage of a Local cluster.
type StorageKind int

const (
	// StorageDefault is DefaultStorage.
	StorageDefault StorageKind = iota
	// StorageNetworked: raftcluster/netstorage, stability over gRPC with
	// mutual TLS on loopback (Networked).
	StorageNetworked
	// StorageInProcess: in-process stabilizer (InProcess).
	StorageInProcess
)

func (k StorageKind) String() string {
	switch k {
	case StorageNetworked:
		return "netstorage (stability over gRPC + mTLS on loopback)"
	case StorageInProcess:
		return "in-process stabilizer (cluster.InProcess)"
	}
	return DefaultStorage.String()
}

// DefaultStorage is the storage a Local cluster (and the demo) uses: the
// one seam to change between the networked and the in-process storage.
const DefaultStorage = StorageNetworked
