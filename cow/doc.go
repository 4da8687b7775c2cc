// Package cow implements the two views of shared storage at the heart of
// holeycow: the writer, which updates shared storage in place, and the
// copier, which sends its writes to a local copy-on-write overlay and reads
// its overlay first, then shared storage.
//
// A copier must keep seeing shared storage as it was when it joined (or
// last reset), plus its own writes (DESIGN.md invariant 1). So before the
// writer mutates a region that a copier could still read, it asks a
// Stabilizer to have every copier preserve that region; each copier copies
// the region's current content into its overlay (Preserve) and
// acknowledges. A region needs this once per copier generation: the writer
// keeps a stable set and Forgets it when a copier joins or resets.
//
// What each writer mutation asks copiers to preserve first:
//
//	WriteAt inside the size    the blocks covered (KindBlocks)
//	WriteAt past EOF, grow     the size (KindMeta) and the old last partial block
//	Truncate shrinking         the size and the blocks cut off (KindFile for 0)
//	Create                     the absence (KindMeta of a missing path: a whiteout)
//	Remove                     the whole file (KindFile), or a directory's existence;
//	                           with HoldRemoved, the file's new place (KindHold)
//	Rename a to b              a and b as for Remove (whole trees for directories;
//	                           a replaced b always KindFile); with HoldRemoved,
//	                           each file's move (KindMove) and b's absence
//	MkdirAll, Lock             the absence of each path they create
//	collecting a held file     its release (KindRelease)
//
// A file the writer creates (Open with O_CREATE, Lock) where the file was
// absent, or renames into place, is stable as a whole from then on: every
// copier preserved the absence at its name (or the whole file it
// replaces), so none reads the new file, and its writes, truncations and
// removal need no round until the stable set is forgotten. A copier that
// resets or joins later sees the file, and the writer's Forget makes its
// blocks need rounds again. This is what keeps a log that an engine
// creates, appends to and deletes (a Pebble WAL) free of rounds.
//
// When a write past an unaligned EOF finds the old last partial block not
// yet stable, the round also takes the 256 blocks past the write's end
// (past the EOF a copier has pinned, so it preserves nothing there): the
// next appends of unaligned records, such as a SQLite WAL's frames, need
// no round of their own. Likewise a write that is not block-aligned,
// continues the previous write through the same file, overwrites it, and
// finds a block not stable takes the next 64 blocks of the file along: a WAL restarting
// from its start after a copier reset needs a round per 64 blocks.
//
// # Zero-copy removes: the holding area
//
// With Options.HoldRemoved, a writer that removes a file some copier may
// still read (one not stable as a whole) does not delete it: it tells the
// copiers (KindHold, with a number) and then moves it to HeldPath(number)
// in the holding area, HoldDir, a reserved directory at the root of shared
// storage. A copier's node for that path reads its unpreserved bytes from
// the held file from then on (from the old path until the file shows up
// there), so a compaction that removes tables copies nothing into the
// overlays. Before deleting a held file the writer runs a release round
// (KindRelease): a copier still reading it copies it whole, as it would
// have at the remove; a copier that reset since holds nothing of it. The
// writer collects held files at each Remove once Options.HoldResets
// ResetCopier calls have passed since they were held, and on CollectHeld.
// The invariants, restated for the holding area:
//
//   - Invariant 1 (isolation): the holding area is in no view. Every call
//     naming HoldDir or a path below it fails with ErrReserved, and List
//     of the root omits it. A copier told of a held file reads exactly
//     the bytes the removed file had: the writer never writes a held file
//     (a file open for writing at the writer is preserved as a whole
//     instead), and a writer never gives a number twice nor one that a
//     held file has. A copier told of a move that did not happen (the
//     remove failed after its round) keeps reading the file at its name,
//     which the writer then still changes only through rounds, and follows
//     the next hold of that name; if a later writer gives that number to
//     another file, the copier takes its own file whole first.
//   - Invariant 2 (preserve before mutate): moving a file into the
//     holding area is a mutation of its path, done only after every copier
//     has acknowledged the KindHold; deleting a held file is a mutation of
//     the held file, done only after every copier has acknowledged its
//     KindRelease. Creating HoldDir needs no round: no view can see it.
//   - Invariant 5 (prefix after reset): a hold is one rename, and
//     ResetCopier syncs the holding area with the other changed
//     directories, so a copier's new view never has both or neither of a
//     removed file and its held copy in a way its engine can see (it sees
//     no held file at all). After a crash or a promotion, the new writer
//     adopts the held files it finds (copiers of the old writer may read
//     them) and numbers new ones past them; the promoted copier first
//     copies what it read of held files, so that shared storage holds its
//     view without them (invariant 6).
//
// A rename that replaces a file still preserves the replaced file as a
// whole: holding it would take two renames, and a crash between them
// would leave the engine with neither file at that name, where rename is
// atomic (vfs.FS has no link to hold it with one). Engines replace small
// files that way (Pebble's and LevelDB's CURRENT); they remove the large
// ones.
//
// # Zero-copy renames: followers
//
// With Options.HoldRemoved, a writer that renames a file some copier may
// still read (one not stable as a whole) tells the copiers first
// (KindMove, from and to), instead of having them copy it (KindFile).
// A copier whose view reads that file from shared storage opens a
// read-only handle on it and reads through the handle from then on:
// vfs.FS says that open files follow their file to its new name. The
// node then follows the file: it answers to the old path and to every
// path the writer said the file moves to (a rename, or the holding
// area), and any region the writer names at one of them makes it
// preserve from its handle. The writer carries what was stable for the
// file to its new path (blocks preserved at the old name are preserved
// in the follower, and every follower pinned the size), and the old path
// is stable as a whole: no copier reads it by name any more. So the
// rename copies nothing; the writer's later changes at the new name cost
// rounds, and copiers copy what those change. A release or a KindFile at
// one of its paths takes the file whole, as does Promote; Reset drops the
// followers with the overlay. The invariants, restated:
//
//   - Invariant 1 (isolation): a follower reads exactly the file it read
//     at the move's round, wherever that file is: a handle does not care
//     for names. The writer changes that file only where it names it (at
//     a path the follower answers to, since every move of it was told),
//     and only after a round, so every change reaches the follower first.
//     A move that failed after its round leaves the file at its old path,
//     which the follower still answers to; a path it answers to that now
//     holds another file only makes it copy more of its own file.
//   - Invariant 2 (preserve before mutate): the rename is a mutation of
//     the old path and of the new one, done only after every copier has
//     acknowledged the move (its handle is open) and the new path's
//     absence. A writer's change at the new path needs its regions there,
//     which the stable set has only for what followers preserved.
//   - Invariant 3 (once per region): a move already told (the same from
//     and to) needs no second round; a rename's target is stable again
//     only for the blocks the followers hold.
//   - Invariant 5 (prefix after reset): a move is one rename of shared
//     storage, synced with the other changed directories at ResetCopier;
//     a copier's new view reads every file by its name again (Reset drops
//     its followers and their handles), and the writer's Forget makes the
//     renamed file's blocks need rounds again.
//   - Invariant 6 (promotion): a promoted copier first takes what it
//     follows whole, and pushes it at its own paths.
//
// A follower keeps its file readable without depending on what a removed
// file's handle does: every removal of a file a copier follows comes
// after a round that takes it whole (KindFile, or the release of a held
// file). An engine that renames a file and then overwrites it in place
// (Pebble's recycled logs) still costs copiers what it overwrites;
// View.Unread tells an adapter when reusing a file is free
// (pebblevfs writes a new log otherwise).
//
// # Usage
//
//	shared := vfs.NewMem()                       // or vfs.OS(dir) on a shared mount
//	copier, _ := cow.NewCopier(shared, cow.Options{})
//	writer, _ := cow.NewWriter(shared, cow.NewDirect(copier), cow.Options{})
//	// give writer to one engine instance, copier to another
//
// A copier is garbage collected with Reset (through the writer's
// ResetCopier handshake) and promoted to writer with Promote. Package
// stability provides a Stabilizer and a ResetHandshake over the network;
// NewDirect is the in-process one.
//
// The caller must:
//
//  1. Make every copier known to the writer's Stabilizer before the writer
//     mutates shared storage again, and then make the writer Forget (best:
//     create or reset the copier through ResetCopier, which also makes its
//     view a prefix of the writer's mutations). Until the writer forgets,
//     it writes the files it created with no round at all.
//  2. Let at most one writer view mutate shared storage at a time (Guard
//     is the hook for fencing), and never mutate shared storage behind the
//     views' backs.
//  3. Never let a copier serve reads after it may have missed a stability
//     round (its lease lapsed): Invalidate it, then Reset it.
//  4. Promote a copier only once the old writer is fenced, with a
//     Stabilizer that reaches every other copier.
//  5. Use one Store (and one scratch FS for NewDirStore) per view, and
//     Release a view once its engine is closed for good (replaced, or at
//     shutdown): its overlay leaves the scratch FS.
//  6. Leave HoldDir (".holeycow-held" at the root of shared storage) to
//     the views: the engine cannot name it, and nothing else may change
//     it. With HoldRemoved, set HoldResets to the number of copiers that
//     reset in turn, or call CollectHeld, or held files pile up until a
//     Remove finds them due.
//
// # Caveats
//
// The overlay is volatile: a copier's own writes are not durable, by
// design; replication makes them so. Sync on a copier does nothing.
//
// Files open across a Reset stay usable and find their file by the name
// they were opened with in the new view: where that view has no file
// (a name the writer created since, a directory, a file on the way), a
// call fails as a lookup would (fs.ErrNotExist, vfs.ErrNotDir,
// vfs.ErrIsDir), never reaching the shared file behind. Engines are
// expected to close and reopen them anyway.
//
// A copier's locks live in its memory: they exclude its own engine only.
// As vfs.FS says, a lock belongs to the file, not to its name: it follows
// a rename, and a new file at the old name is not locked. Locks held
// across a Reset find their file by name, as open files do. Promote takes
// the shared lock of the file each lock holds, wherever it is now, and
// creates no file for a lock whose name the view no longer has.
//
// A copier's overlay only grows (renaming or removing a file that is open,
// or one the writer removes or renames without HoldRemoved, copies the
// whole file into it). Reset is how it shrinks.
//
// Shared storage must give read-after-write coherence between the nodes
// (see DESIGN.md): a copier reads shared blocks that the writer wrote
// before the last stability round and must see them as written.
//
// A writer caches the size of each shared file it writes or truncates, so
// that a steady-state write asks shared storage for no size. This is why
// caller rule 2 matters twice: a file grown or shrunk behind the writer's
// back would make it plan later writes with a stale size and skip
// preserving what they change. The cache is dropped on every other
// mutation of the path, on any failed write or truncate, on Forget and on
// Promote.
//
// ResetCopier syncs every directory changed since the last reset by its
// current path (a rename carries the record along; a removal drops it,
// its parent being dirty too); if one is gone anyway (shared storage
// changed behind the writer's back), it syncs every directory rather than
// fail or lose an entry.
//
// # Testing
//
// TestView_model drives the views with package cowtest's namespace model
// (stability's TestCoordinator_cowModel does the same over the network).
// Its default budget (100 checks) takes seconds; for a long run, raise it:
//
//	go test -race ./cow/ -run TestView_model -rapid.checks=2000
//
// (about two minutes on two cores). A failure prints -rapid.seed=N, which
// replays it. Each run draws HoldRemoved (zero-copy removes and renames,
// three runs in four) and HoldResets; its recording FS fails the run if a
// hold moves a file before every copier was told its number, if a rename
// moves a file before every copier took it whole or was told of the move
// (coverage then follows the file), or if a held file is deleted while a
// copier still reads it. Its "recycle" step renames a file at the writer
// and overwrites it at its new name; the test fails unless copiers
// followed renamed files and regions reached them. The TestHold and
// TestMove tests cover the holding area and followers case by case (crash
// and adoption, promotion, a move that failed after its round, chains of
// renames, directories, reserved names). TestView_gluster runs the same
// machine with each view on its
// own mount of a GlusterFS volume (where the machine allows: root, FUSE,
// the packages; .ci/run sets them up), where a copier must not read a page
// its mount cached in an earlier generation; its budget is small (a step
// reads the whole namespace through every mount), raised the same way.
//
// # Concurrency
//
// View and its files are safe for concurrent use. A writer's reads go
// straight to shared storage. Its mutations of shared storage are
// serialized under the writer lock (held for the stability check, the
// Guard call and the shared I/O, never across a Stabilize call), and
// concurrent mutations that need stabilization share Stabilize calls: at
// most one call is in flight and requests arriving meanwhile join the next
// one. A copier's reads run in parallel; its writes, Preserve, Reset and
// Promote exclude them, which makes Preserve linearizable with reads
// (invariant 8).
package cow
