// Package gluster starts a GlusterFS replica-3 volume on this machine and
// mounts it several times through FUSE, for tests that need the same
// directory seen through different client caches, as nodes on separate
// hosts see a cluster file system.
//
// Start skips the test (with the reason) unless it can run: it needs root,
// /dev/fuse, the gluster command (Debian packages glusterfs-server and
// glusterfs-client: .ci/gluster setup installs them and starts glusterd),
// and HOLEYCOW_GLUSTER not set to "skip". It starts glusterd if it is not
// running. The bricks are directories under the test's temporary
// directory; the volume and its mounts go at the end of the test.
//
// Options Coherent set what holeycow needs of the volume and the mounts
// (CoherentVolume, CoherentMount): without them, a mount's kernel page
// cache and GlusterFS's client-side caches serve data older than what
// another mount wrote (see the tests of this package).
//
// The caller must:
//   - run tests that use it one at a time per volume name (Start picks a
//     fresh name per call);
//   - close every file opened under a mount before the test ends (an
//     unmount of a busy mount falls back to a lazy unmount).
package gluster
