package pebblevfs

import "errors"

// Sentinel errors, returned inside an *fs.PathError.
var (
	// ErrOutsideRoot reports a name that climbs out of the FS root
	// ("../x").
	ErrOutsideRoot = errors.New("pebblevfs: name outside the root")
	// ErrDirectory reports a read or write on a File opened by OpenDir.
	ErrDirectory = errors.New("pebblevfs: read or write on a directory")
)
