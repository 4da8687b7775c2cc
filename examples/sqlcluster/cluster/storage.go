package cluster

import (
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
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
// log) on the new view. It is netstorage's Engine.
type Engine = netstorage.Engine

// StorageFunc makes member id's Storage, driving eng.
type StorageFunc func(id string, eng Engine) (Storage, error)
