package leveldbstore

import "errors"

// ErrBadCurrent reports a CURRENT file that does not name a manifest; it
// reaches goleveldb inside a *storage.ErrCorrupted.
var ErrBadCurrent = errors.New("leveldbstore: CURRENT does not name a file")

// ErrSeek reports a Seek with a bad whence or to a negative offset, inside
// an *fs.PathError.
var ErrSeek = errors.New("leveldbstore: invalid seek")
