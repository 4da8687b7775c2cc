package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/sharedcheck"
)

// checkSharedMain runs "sqlcluster check-shared DIR1 DIR2 [...]": the
// checks of vfs/sharedcheck on the same directory as seen through
// different mounts, with a verdict and the fixes per finding. It returns
// 0 when every check passed, 1 when some failed (or on an error), 2 on a
// usage error.
func checkSharedMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-shared", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sqlcluster check-shared [flags] DIR1 DIR2 [...]\n\n"+
			"Checks that DIR1, DIR2, ... (one directory of shared storage as seen through different mounts)\n"+
			"give what holeycow needs of -shared: read-after-write between mounts at random offsets and sizes,\n"+
			"sizes, create/rename/remove visibility, and lock exclusion. Writes only under a fresh\n"+
			"subdirectory of DIR1 and removes it. Exit status 0: usable; 1: not (the fixes are printed).\n\n")
		fs.PrintDefaults()
	}
	tries := fs.Int("tries", 200, "tries per read-after-write check")
	metaTries := fs.Int("meta-tries", 50, "tries per size, name and lock check")
	seed := fs.Uint64("seed", 0, "seed of the random offsets, sizes and contents (0: random)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this `duration`")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return 2
	}
	var views []vfs.FS
	for _, d := range fs.Args() {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "check-shared: %s: not a directory (%v)\n", d, err)
			return 2
		}
		views = append(views, vfs.OS(d))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	rep, err := sharedcheck.Check(ctx, views, sharedcheck.Options{Tries: *tries, MetaTries: *metaTries, Seed: *seed})
	fmt.Fprint(stdout, rep)
	if err != nil {
		fmt.Fprintln(stderr, "check-shared:", err)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
