// Package glustertest runs holeycow's layers on a GlusterFS volume mounted
// several times on this machine (vfs/vfstest/gluster): the writer's view
// of shared storage through one mount, a copier's through another, as
// nodes on separate hosts see one cluster file system through their own
// client caches. It holds tests only; they skip where GlusterFS cannot
// run (see vfs/vfstest/gluster).
//
// The caller must: run its tests as root on a machine with FUSE and the
// GlusterFS packages (.ci/gluster setup), or accept that they skip.
package glustertest
