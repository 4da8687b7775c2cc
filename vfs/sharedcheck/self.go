package sharedcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SelfOptions configure SelfCheck.
type SelfOptions struct {
	// PageCacheDropped says that the caller reads shared storage past the
	// kernel's page cache where it matters (vfs.OSOptions.DropCacheOnOpen
	// or DropCache): a GlusterFS mount then passes without
	// direct-io-mode=enable.
	PageCacheDropped bool
	// Tries of the read-after-write check between file descriptors
	// (default 16).
	Tries int
	// Seed of the offsets and contents (0: random).
	Seed uint64
}

// Mount is the mount a directory is on, from /proc/self/mountinfo.
type Mount struct {
	Point, Type, Source, Options string
}

// Network reports whether the mount's file system is reached through a
// network or a user-space daemon (FUSE, NFS, SMB, Ceph, 9p), whose
// clients may cache pages that another host's writes do not invalidate.
func (m Mount) Network() bool {
	t := m.Type
	for _, p := range []string{"fuse", "nfs", "cifs", "smb", "ceph", "9p", "glusterfs"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// MountOf returns the mount that dir is on (Linux; elsewhere an error).
func MountOf(dir string) (Mount, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Mount{}, fmt.Errorf("sharedcheck: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, fmt.Errorf("sharedcheck: mounts: %w", err)
	}
	defer f.Close()
	var best Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		point := unescapeMount(a[4])
		if !within(abs, point) || len(point) < len(best.Point) {
			continue
		}
		best = Mount{Point: point, Type: b[0], Source: unescapeMount(b[1]), Options: b[2]}
	}
	if err := sc.Err(); err != nil {
		return Mount{}, fmt.Errorf("sharedcheck: mounts: %w", err)
	}
	if best.Point == "" {
		return Mount{}, fmt.Errorf("sharedcheck: no mount found for %s", abs)
	}
	return best, nil
}

func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Fixes of the GlusterFS findings.
const (
	fixDirectIO = "mount the volume with -o direct-io-mode=enable (the kernel page cache of one mount is not " +
		"invalidated by another's writes), or read shared storage past the page cache (serve does on a network mount " +
		"unless told otherwise; vfs.OSOptions.DropCacheOnOpen)"
	fixTimeout = "mount the volume with -o attribute-timeout=0,entry-timeout=0,negative-timeout=0"
)

// glusterXlators are the client-side caching translators holeycow needs
// off, with the volume option that removes each from the client graph.
var glusterXlators = []struct{ suffix, option, what string }{
	{"-write-behind", "performance.write-behind", "writes held in the client"},
	{"-md-cache", "performance.stat-prefetch", "sizes and times cached in the client"},
	{"-quick-read", "performance.quick-read", "small files' content cached at lookup"},
	{"-io-cache", "performance.io-cache", "file content cached in the client"},
	{"-read-ahead", "performance.read-ahead", "content read ahead into a client cache"},
	{"-open-behind", "performance.open-behind", "opens held in the client"},
	{"-nl-cache", "performance.nl-cache", "negative lookups cached in the client"},
}

// SelfCheck checks the shared directory dir through the one mount this
// host has: what the mount says of its configuration (a GlusterFS FUSE
// mount: the client's command line and translator graph under
// MOUNTPOINT/.meta), and read-after-write between file descriptors of
// this mount, one opened after the write and, where the file system
// takes O_DIRECT, one that reads past the page cache. It takes a
// fraction of a second. What only two mounts can show (one mount's cache
// against another's writes) needs Check, or check-shared across hosts.
// Where the mount is not known (no /proc/self/mountinfo), only the
// read-after-write check runs. It fails only on an I/O error; findings
// are in the Report.
func SelfCheck(ctx context.Context, dir string, o SelfOptions) (Report, error) {
	if o.Tries <= 0 {
		o.Tries = 16
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	rep := Report{Seed: o.Seed}
	// Where the mount is unknown (no /proc/self/mountinfo), only the
	// read-after-write check runs.
	if m, err := MountOf(dir); err == nil && m.Type == "fuse.glusterfs" {
		rs, err := glusterConfig(m, o)
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, rs...)
	}
	r, err := fdReadAfterWrite(ctx, dir, o)
	if err != nil {
		return rep, err
	}
	rep.Results = append(rep.Results, r)
	return rep, nil
}

// glusterConfig reads the GlusterFS client's command line (its mount
// options) and its translator graph from the mount's .meta directory.
func glusterConfig(m Mount, o SelfOptions) ([]Result, error) {
	raw, err := os.ReadFile(filepath.Join(m.Point, ".meta", "cmdline"))
	if err != nil {
		return nil, fmt.Errorf("sharedcheck: GlusterFS mount %s: %w", m.Point, err)
	}
	var cl struct{ Cmdlinestr string }
	if err := json.Unmarshal(raw, &cl); err != nil {
		return nil, fmt.Errorf("sharedcheck: GlusterFS mount %s: .meta/cmdline: %w", m.Point, err)
	}
	args := map[string]string{}
	for _, a := range strings.Fields(cl.Cmdlinestr) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok {
			args[k] = v
		}
	}
	var out []Result
	one := func(check string, ok bool, example, fix string) {
		r := Result{Check: check, Tries: 1}
		if !ok {
			r.Failures, r.Example, r.Fix = 1, example, fix
		}
		out = append(out, r)
	}
	dio := args["direct-io-mode"] == "enable"
	one("GlusterFS mount: page cache (direct-io-mode=enable)", dio || o.PageCacheDropped,
		fmt.Sprintf("%s runs %q", m.Point, cl.Cmdlinestr), fixDirectIO)
	for _, k := range []string{"attribute-timeout", "entry-timeout", "negative-timeout"} {
		one("GlusterFS mount: "+k+"=0", args[k] == "0",
			fmt.Sprintf("%s runs %q", m.Point, cl.Cmdlinestr), fixTimeout)
	}
	ents, err := os.ReadDir(filepath.Join(m.Point, ".meta", "graphs", "active"))
	if err != nil {
		return nil, fmt.Errorf("sharedcheck: GlusterFS mount %s: client graph: %w", m.Point, err)
	}
	for _, x := range glusterXlators {
		var found string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), x.suffix) {
				found = e.Name()
			}
		}
		one("GlusterFS volume: "+x.option+" off", found == "",
			fmt.Sprintf("%s's client graph has %s (%s)", m.Point, found, x.what),
			"gluster volume set VOLUME "+x.option+" off")
	}
	return out, nil
}

// fdReadAfterWrite writes random blocks through one file descriptor and
// reads each back through one kept open (that had read the range
// before), one opened after the write, and one opened with O_DIRECT
// where the file system takes it.
func fdReadAfterWrite(ctx context.Context, dir string, o SelfOptions) (Result, error) {
	const size, bs = 1 << 20, 4096
	r := Result{Check: "read-after-write between file descriptors of this mount"}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5bd1e995))
	name := filepath.Join(dir, fmt.Sprintf(".holeycow-selfcheck-%016x", rng.Uint64()))
	w, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return r, fmt.Errorf("sharedcheck: %w", err)
	}
	defer os.Remove(name)
	defer w.Close()
	if err := w.Truncate(size); err != nil {
		return r, fmt.Errorf("sharedcheck: %w", err)
	}
	kept, err := os.Open(name)
	if err != nil {
		return r, fmt.Errorf("sharedcheck: %w", err)
	}
	defer kept.Close()
	direct, derr := openDirect(name)
	if derr == nil {
		defer direct.Close()
	}
	buf, got := alignedBlock(bs), alignedBlock(bs)
	fail := func(how string, off int64) {
		r.Failures++
		if r.Example == "" {
			r.Example = fmt.Sprintf("wrote %d bytes at %d; %s read them back different", bs, off, how)
		}
	}
	for range o.Tries {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		off := rng.Int64N(size/bs) * bs
		if _, err := kept.ReadAt(got, off); err != nil && err != io.EOF {
			return r, fmt.Errorf("sharedcheck: %w", err)
		}
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := w.WriteAt(buf, off); err != nil {
			return r, fmt.Errorf("sharedcheck: %w", err)
		}
		r.Tries++
		if _, err := kept.ReadAt(got, off); (err != nil && err != io.EOF) || !bytes.Equal(got, buf) {
			fail("a descriptor kept open", off)
		}
		fresh, err := os.Open(name)
		if err != nil {
			return r, fmt.Errorf("sharedcheck: %w", err)
		}
		_, err = fresh.ReadAt(got, off)
		fresh.Close()
		if (err != nil && err != io.EOF) || !bytes.Equal(got, buf) {
			fail("a descriptor opened after the write", off)
		}
		if direct != nil {
			if _, err := direct.ReadAt(got, off); (err != nil && err != io.EOF) || !bytes.Equal(got, buf) {
				fail("an O_DIRECT descriptor", off)
			}
		}
	}
	if r.Failures > 0 {
		r.Fix = fixData
	}
	if derr != nil && !errors.Is(derr, errNoDirect) {
		return r, fmt.Errorf("sharedcheck: %w", derr)
	}
	return r, nil
}

// alignedBlock returns n bytes aligned for O_DIRECT.
func alignedBlock(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	off := 0
	if rem := int(uintptrOf(b) % align); rem != 0 {
		off = align - rem
	}
	return b[off : off+n : off+n]
}
