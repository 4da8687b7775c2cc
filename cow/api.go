package cow

import (
	"context"
	"fmt"
)

// RegionKind says what part of a file a Region names.
type RegionKind uint8

const (
	// KindBlocks names the bytes [Off, Off+Len) of a file's content. Off
	// and Len are multiples of the block size (Len may reach past the end
	// of the file; only the bytes that exist are preserved).
	KindBlocks RegionKind = iota + 1
	// KindMeta names a file's existence and size, or a directory's
	// existence. Preserving it for a path that does not exist records the
	// absence (a whiteout), so that a file the writer creates later stays
	// absent for the copier.
	KindMeta
	// KindFile names a whole file: every block not yet overlaid, its size
	// and its existence. The writer asks for it before Remove and Rename.
	KindFile
	// KindHold says that the file at Path is about to move into the
	// holding area, as held file number Off (HeldPath(Off)), instead of
	// being removed: a copier that still reads that file from shared
	// storage keeps reading it there, copying nothing. The writer asks for
	// it before a Remove when Options.HoldRemoved is set.
	KindHold
	// KindRelease says that held file number Off (Path is HeldPath(Off))
	// is about to be deleted: a copier that still reads it copies what it
	// reads of it into its overlay (as KindFile would have). The writer
	// asks for it before collecting a held file (CollectHeld).
	KindRelease
	// KindMove says that the file at Path is about to be renamed to To: a
	// copier that still reads that file from shared storage keeps reading
	// it wherever it goes (through a handle it opens now, which follows
	// the rename), copying nothing, and preserves it from then on for
	// regions named at Path or To (or at wherever the writer says it
	// moves next). The writer asks for it before a Rename when
	// Options.HoldRemoved is set, for each file the rename moves.
	KindMove
)

func (k RegionKind) String() string {
	switch k {
	case KindBlocks:
		return "blocks"
	case KindMeta:
		return "meta"
	case KindFile:
		return "file"
	case KindHold:
		return "hold"
	case KindRelease:
		return "release"
	case KindMove:
		return "move"
	}
	return fmt.Sprintf("RegionKind(%d)", uint8(k))
}

// Region is a part of shared storage that every copier must preserve before
// the writer mutates it.
type Region struct {
	Kind RegionKind
	Path string // slash separated, as in vfs
	Off  int64  // KindBlocks: the first byte; KindHold, KindRelease: the held file's number
	Len  int64  // KindBlocks only
	To   string // KindMove only: the path the file moves to
}

func (r Region) String() string {
	switch r.Kind {
	case KindBlocks:
		return fmt.Sprintf("%s %s[%d:+%d]", r.Kind, r.Path, r.Off, r.Len)
	case KindHold, KindRelease:
		return fmt.Sprintf("%s %s #%d", r.Kind, r.Path, r.Off)
	case KindMove:
		return fmt.Sprintf("%s %s -> %s", r.Kind, r.Path, r.To)
	}
	return fmt.Sprintf("%s %s", r.Kind, r.Path)
}

// Stabilizer makes regions stable: it returns nil only once every current
// copier has preserved every region given (or has been excluded from the
// membership by the stability layer). The writer view calls it before each
// mutation of shared storage and does not mutate if it returns an error.
//
// Implementations must be safe for concurrent use. The in-process
// implementation is Direct; package stability implements it over the
// network.
type Stabilizer interface {
	Stabilize(ctx context.Context, regions []Region) error
}

// Preserver is the copier's half of a stability round: it copies the
// current shared content of each region that it has not already overlaid.
// A copier *View implements it; Direct calls it in process, package
// stability over the network.
type Preserver interface {
	Preserve(ctx context.Context, regions []Region) error
}

// ResetHandshake is the writer's half of a copier reset (garbage
// collection). ResetCopier calls drop while the writer has no mutation of
// shared storage in flight, after the writer has synced shared storage and
// forgotten its stable set, and before it mutates again. That makes the
// copier's new view a prefix of the writer's mutation sequence (invariant
// 5). A writer *View implements it in process; package stability
// implements it over the network.
type ResetHandshake interface {
	ResetCopier(ctx context.Context, drop func() error) error
}

// Guard is called by the writer view right before each mutation batch of
// shared storage, after stabilization. A non-nil error stops the mutation
// and is returned to the caller. raftcluster uses it for fencing: the
// writer mutates only while its epoch is the newest and its lease is valid.
// It is called whether or not the mutation needed a stability round: a
// failing round is no fence (the writes of a file created in the current
// generation, and rewrites of stable blocks, need none).
//
// The writer calls Guard with its mutation lock held, right before each
// mutation (so no other mutation can slip in between): Guard must be quick
// and must not call back into the view. It may block briefly (raftcluster's
// renews a lapsed lease with one quorum round, at most WriterLease); the
// view's other mutations wait meanwhile.
type Guard func(ctx context.Context) error
