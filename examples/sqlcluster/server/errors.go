package server

import "errors"

// Sentinels of this package. Errors wrap them, with a message saying which
// flag or file is at fault.
var (
	// ErrUsage: the command line is malformed or its flags conflict.
	ErrUsage = errors.New("server: usage")
	// ErrJoin: the node could not join the cluster before the deadline.
	ErrJoin = errors.New("server: join failed")
	// ErrIdentity: a certificate does not name this node.
	ErrIdentity = errors.New("server: certificate identity")
	// ErrRemoved: the node restarted from the -data of a member that the
	// cluster has removed since, and was not told to join again (-join).
	ErrRemoved = errors.New("server: removed from the cluster")
)

// errRejoin: run found this node removed and -join given; it discarded
// the Raft state, and Run starts it again as a new member.
var errRejoin = errors.New("server: removed from the cluster; rejoining as a new member")
