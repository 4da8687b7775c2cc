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
)
