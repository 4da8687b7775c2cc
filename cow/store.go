package cow

// Store holds the blocks of a copier's overlay. A block is addressed by the
// overlay file's id and the block's index in the file; every block has the
// view's block size. The copier tracks which blocks exist: a Store is only
// asked to read blocks it was given.
//
// A Store belongs to one view; do not share one between views. A Store
// that also implements io.Closer is closed by View.Release.
//
// Errors: methods return *fs.PathError values; a block that fails its
// integrity check wraps vfs.ErrCorrupt.
//
// Concurrency: implementations must allow concurrent ReadBlock calls with
// each other. The copier never calls WriteBlock, DeleteFile or Close
// concurrently with any other method.
type Store interface {
	// ReadBlock fills p (len(p) is the block size) with block idx of file
	// id.
	ReadBlock(id uint64, idx int64, p []byte) error
	// WriteBlock stores p as block idx of file id, replacing any earlier
	// content.
	WriteBlock(id uint64, idx int64, p []byte) error
	// DeleteBlock forgets one block. Deleting a missing block is not an
	// error.
	DeleteBlock(id uint64, idx int64) error
	// DeleteFile forgets every block of file id.
	DeleteFile(id uint64) error
	// Usage reports the bytes and blocks held.
	Usage() (bytes, blocks int64)
}
