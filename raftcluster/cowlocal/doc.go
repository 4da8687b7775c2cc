// Package cowlocal is a raftcluster.Storage for members that share one
// process: each member has a cow.View over the same shared vfs.FS, and
// the writer's stabilizer is a cow.Direct over the copiers' views (no
// network). It is the in-process half of phase 2: tests and single-process
// deployments use it; package stability provides the networked
// equivalent.
//
// # Usage
//
//	g := cowlocal.NewGroup(shared, cow.Options{})
//	st := g.Storage("n1", engine)           // before raftcluster.New
//	n, _ := raftcluster.New(raftcluster.Config{..., Storage: st})
//	st.SetGuard(n.Guard())
//
// What the caller must do:
//
//  1. Create one Group per shared FS and one Storage per member, and pass
//     the member's Node.Guard to SetGuard right after raftcluster.New.
//  2. Implement Engine: Close releases every file of the view; Open opens
//     the engine on the view and catches up (Node.ReadLog from the index
//     stored in the database), holding off concurrent ApplyFunc calls
//     until it has.
//  3. Route ApplyFunc to the engine, which uses Storage.FS (the current
//     view) for its files.
//
// # Caveats
//
//   - cow keeps one stable set per writer, not per copier: a copier that
//     joins, rejoins or resets makes the writer Forget all of it.
//   - A deposed writer's view cannot become a copier in place: the engine
//     is closed and reopened on a fresh copier view.
//   - An invalidated copier view (cow.View.Invalidate: the engine
//     declares it cannot catch up on it) is not promoted by BecomeWriter:
//     the engine is closed and reopened on a fresh writer view over
//     shared storage as the previous writer left it.
//   - A new copier view joins the group's writer (the member that became
//     the writer last), not the writer its node names: a node that lags
//     behind the log names one that no longer mutates.
//   - A role change whose engine fails to open returns the error and
//     keeps the view it reached; when the node calls it again, it opens
//     the engine on that view.
//
// # Concurrency
//
// A Storage's raftcluster.Storage methods are called by its node from one
// goroutine; FS, View, SetGuard, OverlayBytes and Check are safe for
// concurrent use. A Group is safe for concurrent use. The role changes of
// a group's members (BecomeWriter, BecomeCopier, Reset) take turns: each
// holds the group's turn while it changes its view (gathering the copier
// views and installing its Direct, for a writer; making and publishing
// the view, for a copier), never while its engine closes or opens, so
// that no copier view is made unseen by a writer becoming one. A role
// change waiting for its turn gives up when its ctx ends.
package cowlocal
