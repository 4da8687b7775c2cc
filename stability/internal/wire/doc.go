// Package wire is the binary encoding of the stability protocol's messages:
// a tag byte, then varints and length-prefixed strings, no protobuf. It is
// shared by package stability's gRPC transport and package stabilitytest's
// in-process network, which both encode every message.
//
// The message types mirror package stability's (same fields, in the same
// order, with the code and frame types as type parameters), so that a
// *stability.PreserveRequest converts to a *PreserveRequest and back without
// copying.
//
// The caller must:
//
//  1. Keep the structs here field for field identical to stability's.
//  2. Give codes below CodeLimit and frame types in [1, FrameLimit).
//
// Concurrency: the functions are safe for concurrent use; a message must
// not be modified while it is encoded.
package wire
