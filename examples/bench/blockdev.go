package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// blockDev is an ext4 file system of its own on a loop device, for one
// serve cluster: every byte the cluster's processes cause to reach
// storage (file data, ext4's journal and metadata) is counted by the
// block layer in /sys/block/loopN/stat, and nothing else writes there.
//
// Why not /proc/PID/io's write_bytes: on this kernel (6.18) ext4 caches
// regular files in large folios, and write_bytes adds a folio's whole
// size each time a write dirties it (a 100-byte append to a file read
// with readahead can count 2 MiB), so it grows with file sizes and is
// an upper bound, not what the disk receives.
//
// Concurrency: bytesWritten may be called from one goroutine at a time.
type blockDev struct {
	img  string // the sparse backing file
	dev  string // /dev/loopN
	mnt  string // where the file system is mounted
	stat string // /sys/block/loopN/stat
}

// blockDevSize is the apparent size of each backing file (sparse: it
// takes only what the file system writes).
const blockDevSize = 8 << 30

// blockDevUsable says why per-cluster block devices cannot be used here
// ("" when they can): they need root, losetup, mkfs.ext4 and mount.
func blockDevUsable() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found"
		}
	}
	return ""
}

// newBlockDev makes an ext4 file system (default options, initialized at
// once) on a new
// loop device backed by dir/fs.img and mounts it at dir/fs.
func newBlockDev(dir string) (*blockDev, error) {
	b := &blockDev{img: filepath.Join(dir, "fs.img"), mnt: filepath.Join(dir, "fs")}
	f, err := os.OpenFile(b.img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(blockDevSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(b.img)
		return nil, err
	}
	out, err := exec.Command("losetup", "--find", "--show", b.img).Output()
	if err != nil {
		os.Remove(b.img)
		return nil, fmt.Errorf("bench: losetup %s: %w", b.img, exitErr(err))
	}
	b.dev = strings.TrimSpace(string(out))
	b.stat = filepath.Join("/sys/block", filepath.Base(b.dev), "stat")
	// Not lazily: ext4's lazy init would zero the inode tables and
	// journal in the background after mounting, writing more than a
	// whole load does (134 MB in the first 5 s of an idle 8 GiB one).
	if err := run1("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", b.dev); err != nil {
		return nil, errors.Join(err, b.close())
	}
	if err := os.Mkdir(b.mnt, 0o700); err != nil {
		return nil, errors.Join(err, b.close())
	}
	if err := run1("mount", b.dev, b.mnt); err != nil {
		return nil, errors.Join(err, b.close())
	}
	return b, nil
}

// bytesWritten flushes the file system (syncfs: the dirty pages and
// ext4's journal reach the device) and returns the bytes the device has
// received since it was made.
func (b *blockDev) bytesWritten() (int64, error) {
	d, err := os.Open(b.mnt)
	if err != nil {
		return 0, err
	}
	err = unix.Syncfs(int(d.Fd()))
	d.Close()
	if err != nil {
		return 0, fmt.Errorf("bench: syncfs %s: %w", b.mnt, err)
	}
	st, err := os.ReadFile(b.stat)
	if err != nil {
		return 0, err
	}
	// Field 7 is sectors written, in units of 512 bytes whatever the
	// device's sector size (Documentation/block/stat.rst).
	f := strings.Fields(string(st))
	if len(f) < 7 {
		return 0, fmt.Errorf("bench: %s: %d fields", b.stat, len(f))
	}
	sectors, err := strconv.ParseInt(f[6], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", b.stat, err)
	}
	return sectors * 512, nil
}

// close unmounts the file system, detaches the loop device and removes
// the backing file. The processes using it must have exited.
func (b *blockDev) close() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(b.mnt, "lost+found")); err == nil {
		if err := run1("umount", b.mnt); err != nil {
			errs = append(errs, err)
		}
	}
	if b.dev != "" {
		if err := run1("losetup", "-d", b.dev); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(b.img); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// run1 runs a command and returns its output in the error if it fails.
func run1(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// exitErr adds a failed command's standard error to err.
func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
