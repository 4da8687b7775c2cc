// Package cowtest is a namespace model for randomized tests of file systems
// built on package cow: it draws operations (writes by name and through
// long-lived handles, truncates, creates with O_EXCL or O_TRUNC, removes,
// renames of files and of directories with children, MkdirAll, locks,
// syncs, and the failed variants of each: under a file, onto a directory,
// onto itself), applies each to a vfs.FS and to its model, and checks that
// both agree on the result, the error and the whole namespace afterwards.
//
// Package cow's TestView_model and package stability's model test share it,
// so that both drive the views with the same shapes.
//
// The model follows vfs.MemFS: handles and locks belong to files (inodes),
// not to names. After a copier reset, handles and locks held across it find
// their file by the name they were opened with (Subject.Reset), as cow
// documents; after a promotion they are bound again (Subject.Promote).
//
// The caller must:
//
//  1. Start each Subject with the model of its file system's state
//     (Setup, or a Clone of the writer's model when a copier joins), and
//     keep it told: Reset when a copier resets, SyncOpen when the writer's
//     ResetCopier syncs its open files, Promote when a copier is promoted,
//     CloseAll when a view is discarded.
//  2. Give it file systems that hold nothing but what the model made:
//     Check compares whole directory listings.
//
// Concurrency: a Subject is used by one goroutine at a time.
package cowtest
