package gluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to "skip" (or to a reason
// starting with "skip"), makes Start skip.
const SkipEnv = "HOLEYCOW_GLUSTER"

// CoherentVolume are the volume options that turn off GlusterFS's
// client-side caches that serve data older than another mount's writes.
var CoherentVolume = map[string]string{
	"performance.write-behind":  "off", // writes reach the bricks before write returns
	"performance.stat-prefetch": "off", // no md-cache of sizes and times
	"performance.quick-read":    "off", // no cache of small files' content at lookup
	"performance.io-cache":      "off", // no client-side read cache
	"performance.read-ahead":    "off", // no read-ahead into stale pages
	"performance.open-behind":   "off", // open reaches the bricks
}

// CoherentMount are the mount options that bypass the kernel's page cache
// and FUSE's attribute, entry and negative-lookup caches.
var CoherentMount = []string{"direct-io-mode=enable", "attribute-timeout=0", "entry-timeout=0", "negative-timeout=0"}

// Options configure Start.
type Options struct {
	// Mounts of the volume (default 2).
	Mounts int
	// Coherent sets CoherentVolume and mounts with CoherentMount.
	Coherent bool
	// VolumeOptions are set on the volume after Coherent's.
	VolumeOptions map[string]string
	// MountOptions are added to Coherent's.
	MountOptions []string
}

// Volume is a started volume and its mounts.
type Volume struct {
	Name   string
	Host   string
	Mounts []string // mount points, each a directory of the same volume
}

// Usable returns nil if Start can run here, else why not.
func Usable() error {
	if v := os.Getenv(SkipEnv); strings.HasPrefix(v, "skip") {
		return fmt.Errorf("gluster: %s=%q", SkipEnv, v)
	}
	if os.Geteuid() != 0 {
		return errors.New("gluster: needs root (glusterd and FUSE mounts)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("gluster: no FUSE: %v", err)
	}
	for _, bin := range []string{"gluster", "glusterd", "mount.glusterfs"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("gluster: %s not found: install glusterfs-server and glusterfs-client (.ci/gluster setup)", bin)
		}
	}
	return nil
}

// run runs a command with a deadline and returns its combined output.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("gluster: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// cli runs a gluster command, again while glusterd is busy with another
// one (tests of several packages start volumes at once), for at most a
// minute.
func cli(args ...string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := run(60*time.Second, "gluster", append([]string{"--mode=script"}, args...)...)
		busy := strings.Contains(out, "Another transaction is in progress") || strings.Contains(out, "Locking failed")
		if err == nil || !busy || time.Now().After(deadline) {
			return out, err
		}
		<-tick.C
	}
}

// ensureGlusterd starts glusterd unless it answers, and waits until it
// does (at most 30s).
func ensureGlusterd() error {
	if _, err := cli("volume", "list"); err == nil {
		return nil
	}
	if _, err := run(30*time.Second, "glusterd"); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := cli("volume", "list")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gluster: glusterd does not answer: %w", err)
		}
		<-tick.C
	}
}

// Start creates, starts and mounts a replica-3 volume for tb, or skips tb
// when Usable says it cannot. Everything is torn down in tb.Cleanup.
func Start(tb testing.TB, o Options) *Volume {
	tb.Helper()
	if err := Usable(); err != nil {
		tb.Skip(err)
	}
	if o.Mounts <= 0 {
		o.Mounts = 2
	}
	if err := ensureGlusterd(); err != nil {
		tb.Skipf("gluster: glusterd unavailable: %v", err)
	}
	host, err := os.Hostname()
	if err != nil {
		tb.Fatal(err)
	}
	var rb [4]byte
	rand.Read(rb[:])
	v := &Volume{Name: "hc" + hex.EncodeToString(rb[:]), Host: host}
	dir := tb.TempDir()
	var bricks []string
	for i := range 3 {
		b := filepath.Join(dir, fmt.Sprintf("brick%d", i))
		if err := os.Mkdir(b, 0o755); err != nil {
			tb.Fatal(err)
		}
		bricks = append(bricks, host+":"+b)
	}
	if _, err := cli(append(append([]string{"volume", "create", v.Name, "replica", "3"}, bricks...), "force")...); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := cli("volume", "stop", v.Name, "force"); err != nil {
			tb.Error(err)
		}
		if _, err := cli("volume", "delete", v.Name); err != nil {
			tb.Error(err)
		}
	})
	set := func(k, val string) {
		if _, err := cli("volume", "set", v.Name, k, val); err != nil {
			tb.Fatal(err)
		}
	}
	if o.Coherent {
		for k, val := range CoherentVolume {
			set(k, val)
		}
	}
	for k, val := range o.VolumeOptions {
		set(k, val)
	}
	if _, err := cli("volume", "start", v.Name); err != nil {
		tb.Fatal(err)
	}
	opts := append([]string(nil), o.MountOptions...)
	if o.Coherent {
		opts = append(append([]string(nil), CoherentMount...), opts...)
	}
	for i := range o.Mounts {
		mp := filepath.Join(dir, fmt.Sprintf("mount%d", i))
		if err := os.Mkdir(mp, 0o755); err != nil {
			tb.Fatal(err)
		}
		args := []string{"-t", "glusterfs"}
		if len(opts) > 0 {
			args = append(args, "-o", strings.Join(opts, ","))
		}
		if _, err := run(60*time.Second, "mount", append(args, host+":/"+v.Name, mp)...); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			if _, err := run(30*time.Second, "umount", mp); err != nil {
				// Busy (a file left open): detach now, free when closed.
				if _, err := run(30*time.Second, "umount", "-l", mp); err != nil {
					tb.Error(err)
				}
			}
		})
		v.Mounts = append(v.Mounts, mp)
	}
	return v
}
