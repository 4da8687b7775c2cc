// Package sharedcheck tests whether several views of one directory (the
// same shared file system mounted on different hosts, or several times on
// one host) give what holeycow relies on of shared storage:
//
//   - read-after-write: bytes written through one view, at random offsets
//     and sizes, read back at once through another view, with the file
//     kept open on both sides (as holeycow keeps it), whether or not the
//     reader had read the range before, and whether or not the writer
//     synced;
//   - synced writes: once the writer's fsync (of the file, and of its
//     directory after a create or rename) has returned, another view
//     reads the data through a descriptor opened afresh (after having
//     read the range before), finds a new file by name with its content,
//     reads the new content under a name renamed over (never the old, nor
//     a stale file handle), and never sees two synced writes in reverse
//     order or a synced write undone (a reader polling two counters the
//     writer advances, syncing each, while it writes). Durability across
//     a server crash is not observable from the mounts and not checked;
//   - sizes: a size set through one view (truncate, extend) is the size
//     the other views see, through an open file and through Stat;
//   - names: a create, rename or remove through one view is visible at
//     once through the others;
//   - locks: a lock held through one view excludes a lock through
//     another, and is free there once released.
//
// Check runs them and returns a Report: one Result per check with its
// failures, and for each failing check the fix (mount and volume options
// of the common cluster file systems). It writes only under the directory
// it is given (a fresh subdirectory) and removes what it wrote.
//
// SelfCheck is the quick check of one host's mount (what serve runs at
// startup): the mount's own configuration where the file system shows it
// (a GlusterFS FUSE mount: the client's options in MOUNT/.meta/cmdline
// and its caching translators in MOUNT/.meta/graphs/active) and
// read-after-write between file descriptors of that mount (one reading
// past the page cache with O_DIRECT where the file system takes it).
// MountOf finds the mount a directory is on (Linux).
//
// Across hosts, ServeAgent serves this host's view of the directory to
// one peer (net/rpc over TCP, no authentication: bind it to an address
// only the peer reaches, for the duration of the check), and DialAgent
// gives the peer that view as a RemoteFS, a vfs.FS to pass to Check
// beside its own views (check-shared -agent / -peer). RemoteFS carries
// the agent's errors with their kinds (errors.Is works) and passes the
// vfs conformance suite.
//
// The caller must:
//   - give views of the SAME directory (Check verifies it: a file created
//     through the first view must appear through every other);
//   - not run other writers in that directory meanwhile (SelfCheck
//     writes one file of its own, named .holeycow-selfcheck-*, and
//     removes it);
//   - read a passing SelfCheck as "no finding on this host": what only
//     another host's writes show needs Check across mounts or hosts.
package sharedcheck
