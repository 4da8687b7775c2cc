package errorfs

import "fmt"

// OpKind names the FS or File method an Op stands for.
type OpKind uint8

// The kinds of operation. Every method of vfs.FS and vfs.File that can fail
// has one (File.Name cannot fail and is not an op), and so do the optional
// RemoveAll and SyncData.
const (
	// OpOpen is FS.Open without os.O_CREATE or os.O_TRUNC: an open that
	// cannot change the FS.
	OpOpen OpKind = iota + 1
	// OpCreate is FS.Open with os.O_CREATE or os.O_TRUNC: an open that
	// may create or truncate the file.
	OpCreate
	OpRemove
	OpRemoveAll
	// OpRename is FS.Rename. Its Op has Path = oldname and NewPath =
	// newname.
	OpRename
	OpStat
	OpList
	OpMkdirAll
	OpLock
	// OpUnlock is the Close of the io.Closer that FS.Lock returned.
	OpUnlock
	OpSyncDir
	// OpRead is File.ReadAt; its Op has Off and Len.
	OpRead
	// OpWrite is File.WriteAt; its Op has Off and Len.
	OpWrite
	// OpTruncate is File.Truncate; its Op has Off = the new size.
	OpTruncate
	OpSync
	OpSyncData
	OpSize
	OpClose

	numKinds = iota + 1 // one more than the last kind
)

// Kinds returns every OpKind, in order.
func Kinds() []OpKind {
	ks := make([]OpKind, 0, numKinds-1)
	for k := OpOpen; k < numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

var kindNames = [numKinds]string{
	OpOpen:      "open",
	OpCreate:    "create",
	OpRemove:    "remove",
	OpRemoveAll: "removeall",
	OpRename:    "rename",
	OpStat:      "stat",
	OpList:      "list",
	OpMkdirAll:  "mkdirall",
	OpLock:      "lock",
	OpUnlock:    "unlock",
	OpSyncDir:   "syncdir",
	OpRead:      "read",
	OpWrite:     "write",
	OpTruncate:  "truncate",
	OpSync:      "sync",
	OpSyncData:  "syncdata",
	OpSize:      "size",
	OpClose:     "close",
}

// String returns the kind's name in lower case ("write"). Injected errors
// use it as their fs.PathError Op.
func (k OpKind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// IsMutation reports whether an op of this kind may change what the FS
// holds: file content, sizes, names or directories. Lock counts, as it
// creates its file.
func (k OpKind) IsMutation() bool {
	switch k {
	case OpCreate, OpRemove, OpRemoveAll, OpRename, OpMkdirAll, OpLock, OpWrite, OpTruncate:
		return true
	}
	return false
}

// IsWrite reports whether an op of this kind is on the write path: a
// mutation, or a Sync, SyncData or SyncDir that makes mutations durable.
// Failing only these ops simulates a device that still reads but no
// longer writes.
func (k OpKind) IsWrite() bool {
	switch k {
	case OpSync, OpSyncData, OpSyncDir:
		return true
	}
	return k.IsMutation()
}

// IsRead reports whether an op of this kind only reads: OpOpen, OpStat,
// OpList, OpRead and OpSize.
func (k OpKind) IsRead() bool {
	switch k {
	case OpOpen, OpStat, OpList, OpRead, OpSize:
		return true
	}
	return false
}

// Op describes one operation, as injectors see it.
type Op struct {
	Kind OpKind
	// Path is the path the operation names: for File methods, the name
	// the file was opened with; for Rename, the old name.
	Path string
	// NewPath is Rename's new name, and empty for every other kind.
	NewPath string
	// Off and Len are the offset and length of a Read or Write; Off is
	// the new size of a Truncate. They are 0 for other kinds.
	Off, Len int64
}

// String describes the op for logs: "write db/main.db [4096:+512]".
func (op Op) String() string {
	switch op.Kind {
	case OpRename:
		return fmt.Sprintf("rename %s -> %s", op.Path, op.NewPath)
	case OpRead, OpWrite:
		return fmt.Sprintf("%s %s [%d:+%d]", op.Kind, op.Path, op.Off, op.Len)
	case OpTruncate:
		return fmt.Sprintf("truncate %s %d", op.Path, op.Off)
	}
	return fmt.Sprintf("%s %s", op.Kind, op.Path)
}
