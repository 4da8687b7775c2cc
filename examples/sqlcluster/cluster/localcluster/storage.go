package localcluster

// StorageKind selects the storage of a Cluster's members.
type StorageKind int

const (
	// StorageDefault is DefaultStorage.
	StorageDefault StorageKind = iota
	// StorageNetworked: raftcluster/netstorage, stability over gRPC with
	// mutual TLS on loopback (cluster.Networked).
	StorageNetworked
	// StorageInProcess: raftcluster/netstorage with stability on an
	// in-memory network (InProcess).
	StorageInProcess
)

func (k StorageKind) String() string {
	switch k {
	case StorageNetworked:
		return "netstorage (stability over gRPC + mTLS on loopback)"
	case StorageInProcess:
		return "netstorage (stability on an in-memory network)"
	}
	return DefaultStorage.String()
}

// DefaultStorage is the storage a Cluster (and the demo) uses: the one
// seam to change between the networked and the in-process storage.
const DefaultStorage = StorageNetworked
